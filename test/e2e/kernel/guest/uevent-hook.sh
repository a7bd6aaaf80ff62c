#!/bin/sh
# Run by busybox uevent for each kernel uevent: load the driver for a device added after boot,
# as udev would. (Debian's kernel has no CONFIG_UEVENT_HELPER, so this is the only way.)
if [ "$ACTION" = add ] && [ -n "$MODALIAS" ]; then
  exec modprobe -b -q "$MODALIAS"
fi

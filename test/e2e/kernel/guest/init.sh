#!/bin/sh
# /init of the gpuvirt e2e guest. It does what udev and systemd would on a real host and no
# more: mounts the kernel filesystems, loads drivers for the PCI devices present (coldplug by
# modalias) and for devices added later (SR-IOV VFs, through the uevent hook), runs the guest
# test program and powers off. /bin/sh is dash and modprobe is kmod's: busybox's modprobe
# ignores softdeps, and vfio's softdep is what loads vfio_iommu_type1.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /var/lib
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp

for alias in /sys/bus/pci/devices/*/modalias; do
  modprobe -b -q "$(cat "$alias")"
done
uevent /etc/uevent-hook &

# The results channel: the second serial port, raw, so nothing rewrites the lines, and at
# 115200 baud: QEMU paces a serial port at its baud rate, and the default 9600 costs minutes.
stty -F /dev/ttyS1 115200 raw -echo 2>/dev/null
node /opt/e2e/run.mjs /dev/ttyS1
echo "gpuvirt-e2e: guest program exited with status $?"
sync
poweroff -f

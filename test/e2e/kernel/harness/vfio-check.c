/*
 * vfio-check: opens an IOMMU group through VFIO the way a VMM does and prints what the kernel
 * answered, as one JSON line. Built static at harness time and run inside the e2e guest.
 *
 *   vfio-check GROUP [--hold SECONDS] [DEVICE...]
 *
 * Steps (ioctls from <linux/vfio.h>, Documentation/driver-api/vfio.rst):
 *   1. /dev/vfio/vfio: VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU)
 *   2. /dev/vfio/GROUP: VFIO_GROUP_GET_STATUS; the group is usable when FLAGS_VIABLE is set,
 *      i.e. every device in it is on a VFIO driver or on none
 *   3. VFIO_GROUP_SET_CONTAINER, then VFIO_SET_IOMMU(TYPE1v2), which needs vfio_iommu_type1
 *   4. VFIO_GROUP_GET_DEVICE_FD for each DEVICE
 * --hold keeps it all open for SECONDS, as a running VM would. Exit status 0 when every step
 * worked, 1 otherwise.
 */
#define _GNU_SOURCE /* strerrorname_np */
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *result(int rc) {
  static char buf[64];
  if (rc >= 0) return "ok";
  const char *name = strerrorname_np(errno);
  snprintf(buf, sizeof buf, "%s", name ? name : "error");
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: vfio-check GROUP [--hold SECONDS] [DEVICE...]\n");
    return 2;
  }
  const char *group = argv[1];
  int hold = 0, first_device = 2;
  if (argc > 3 && strcmp(argv[2], "--hold") == 0) {
    hold = atoi(argv[3]);
    first_device = 4;
  }
  int ok = 1;
  printf("{\"group\":%s", group);

  int container = open("/dev/vfio/vfio", O_RDWR);
  printf(",\"container\":\"%s\"", result(container));
  if (container < 0) {
    printf("}\n");
    return 1;
  }
  printf(",\"apiVersion\":%d", ioctl(container, VFIO_GET_API_VERSION));
  printf(",\"type1v2\":%s", ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? "true" : "false");

  char path[64];
  snprintf(path, sizeof path, "/dev/vfio/%s", group);
  int fd = open(path, O_RDWR);
  printf(",\"open\":\"%s\"", result(fd));
  if (fd < 0) {
    printf("}\n");
    return 1;
  }
  struct vfio_group_status status = { .argsz = sizeof status };
  int rc = ioctl(fd, VFIO_GROUP_GET_STATUS, &status);
  int viable = rc == 0 && (status.flags & VFIO_GROUP_FLAGS_VIABLE);
  printf(",\"status\":\"%s\",\"viable\":%s", result(rc), viable ? "true" : "false");
  ok = ok && viable;
  if (viable) {
    rc = ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container);
    printf(",\"setContainer\":\"%s\"", result(rc));
    ok = ok && rc == 0;
    if (rc == 0) {
      rc = ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
      printf(",\"setIommu\":\"%s\"", result(rc));
      ok = ok && rc == 0;
    }
    printf(",\"devices\":{");
    for (int i = first_device; i < argc; i++) {
      int dev = ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, argv[i]);
      printf("%s\"%s\":\"%s\"", i == first_device ? "" : ",", argv[i], result(dev));
      ok = ok && dev >= 0;
    }
    printf("}");
  }
  printf("}\n");
  fflush(stdout);
  if (hold > 0) sleep((unsigned)hold);
  return ok ? 0 : 1;
}

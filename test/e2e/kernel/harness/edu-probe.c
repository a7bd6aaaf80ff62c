/*
 * edu-probe: /init of the nested guest (L2) that the e2e guest (L1) starts from gpuvirt's
 * generated QEMU script. It finds QEMU's edu device (1234:11e8), passed to L2 through VFIO,
 * uses it the way a driver would and prints what it saw as one line, then resets L2 (which
 * ends a QEMU started with -no-reboot, with or without ACPI):
 *
 *   @@edu {"address":"0000:01:00.0","id":"0x010000ed","liveness":"0x...","dma":{...}}
 *
 * Register map (QEMU docs/specs/edu.rst): 0x00 identification (0xRRrr00ed), 0x04 liveness
 * (reads back the inverse of what was written), 0x80/0x88/0x90 DMA source, destination and
 * count, 0x98 DMA command (bit 0 start, bit 1 from the device to RAM); the device's DMA
 * buffer is at 0x40000 of its own address space. L2 has no IOMMU, so a bus address is a
 * physical address, found in /proc/self/pagemap. The edu of QEMU 7.2 aborts the whole QEMU on
 * a transfer of its full 4096-byte buffer, so this one moves less.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#define DMA_BYTES 2048
#define EDU_BUFFER 0x40000

static char found[64];

static int read_hex(const char *dev, const char *attr) {
  char path[320], buf[32] = {0};
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/%s", dev, attr);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? (int)strtol(buf, NULL, 16) : -1;
}

static int find_edu(void) {
  DIR *d = opendir("/sys/bus/pci/devices");
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (read_hex(e->d_name, "vendor") == 0x1234 && read_hex(e->d_name, "device") == 0x11e8) {
      snprintf(found, sizeof found, "%s", e->d_name);
      closedir(d);
      return 0;
    }
  }
  closedir(d);
  return -1;
}

/** Physical address of a locked, touched page (bits 0-54 of its pagemap entry are the PFN). */
static uint64_t phys(void *p) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) return 0;
  uint64_t entry = 0;
  off_t off = (off_t)((uintptr_t)p / 4096) * 8;
  ssize_t n = pread(fd, &entry, 8, off);
  close(fd);
  if (n != 8 || !(entry & (1ULL << 63))) return 0;
  return (entry & ((1ULL << 55) - 1)) * 4096 + ((uintptr_t)p % 4096);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/** One transfer; 0 when the device finished it (bit 0 of the command cleared) within 10 s. */
static int dma(volatile uint32_t *r, uint64_t src, uint64_t dst, uint32_t cmd) {
  r[0x80 / 4] = (uint32_t)src;
  r[0x88 / 4] = (uint32_t)dst;
  r[0x90 / 4] = DMA_BYTES;
  r[0x98 / 4] = cmd;
  double deadline = now() + 10;
  while (r[0x98 / 4] & 1) {
    if (now() > deadline) return -1;
    usleep(10000);
  }
  return 0;
}

static void probe(void) {
  if (find_edu() != 0) {
    printf("@@edu {\"error\":\"no edu device (1234:11e8) in /sys/bus/pci/devices\"}\n");
    return;
  }
  char path[320];
  /* Memory space and bus mastering on (PCI_COMMAND bits 1 and 2), as a driver's pci_set_master. */
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", found);
  int cfg = open(path, O_RDWR);
  uint16_t command = 0;
  if (cfg < 0 || pread(cfg, &command, 2, 4) != 2) {
    printf("@@edu {\"address\":\"%s\",\"error\":\"config: %s\"}\n", found, strerror(errno));
    return;
  }
  command |= 0x6;
  if (pwrite(cfg, &command, 2, 4) != 2) {
    printf("@@edu {\"address\":\"%s\",\"error\":\"config write: %s\"}\n", found, strerror(errno));
    return;
  }
  close(cfg);
  snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource0", found);
  int bar = open(path, O_RDWR | O_SYNC);
  volatile uint32_t *r = bar < 0 ? MAP_FAILED : mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, bar, 0);
  if (r == MAP_FAILED) {
    printf("@@edu {\"address\":\"%s\",\"error\":\"mmap resource0: %s\"}\n", found, strerror(errno));
    return;
  }
  uint32_t id = r[0];
  r[1] = 0x12345678;
  uint32_t live = r[1];

  /* RAM -> device buffer -> another page of RAM; then compare. */
  uint8_t *a = aligned_alloc(4096, 4096), *b = aligned_alloc(4096, 4096);
  if (!a || !b || mlock(a, 4096) || mlock(b, 4096)) {
    printf("@@edu {\"address\":\"%s\",\"id\":\"0x%08x\",\"liveness\":\"0x%08x\",\"error\":\"buffers: %s\"}\n", found, id, live, strerror(errno));
    return;
  }
  srand((unsigned)time(NULL));
  for (int i = 0; i < 4096; i++) a[i] = (uint8_t)rand();
  memset(b, 0, 4096);
  uint64_t pa = phys(a), pb = phys(b);
  double t0 = now();
  int to_dev = pa && pb ? dma(r, pa, EDU_BUFFER, 1) : -1;
  int to_ram = to_dev == 0 ? dma(r, EDU_BUFFER, pb, 3) : -1;
  int same = to_ram == 0 && memcmp(a, b, DMA_BYTES) == 0;
  int untouched = 1;
  for (int i = DMA_BYTES; i < 4096; i++) untouched = untouched && b[i] == 0;
  printf("@@edu {\"address\":\"%s\",\"id\":\"0x%08x\",\"liveness\":\"0x%08x\",\"dma\":{\"bytes\":%d,\"src\":\"0x%llx\",\"dst\":\"0x%llx\","
         "\"toDevice\":%s,\"toRam\":%s,\"match\":%s,\"restUntouched\":%s,\"firstBytes\":\"%02x%02x%02x%02x\",\"ms\":%d}}\n",
         found, id, live, DMA_BYTES, (unsigned long long)pa, (unsigned long long)pb, to_dev == 0 ? "true" : "false", to_ram == 0 ? "true" : "false",
         same ? "true" : "false", untouched ? "true" : "false", b[0], b[1], b[2], b[3], (int)((now() - t0) * 1000));
}

int main(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  probe();
  fflush(stdout);
  sync();
  reboot(RB_AUTOBOOT);
  return 0;
}

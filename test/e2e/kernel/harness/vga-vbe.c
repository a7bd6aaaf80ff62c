/*
 * vga-vbe: the VBE (Bochs DISPI) interface of QEMU's std VGA in the e2e guest, through its
 * 16-bit I/O ports (index 0x1ce, data 0x1cf). QEMU ignores byte accesses to them, so
 * /dev/port, which reads and writes byte by byte, cannot reach them.
 *
 *   vga-vbe        prints the enable register:            {"was":"0x41","now":"0x41"}
 *   vga-vbe off    turns VBE off (the legacy VGA modes work again) and prints it before and after
 */
#include <stdio.h>
#include <string.h>
#include <sys/io.h>

#define VBE_INDEX 0x1ce
#define VBE_DATA 0x1cf
#define VBE_ENABLE 4

static unsigned enable_reg(void)
{
    outw(VBE_ENABLE, VBE_INDEX);
    return inw(VBE_DATA);
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "off") != 0)) {
        fprintf(stderr, "usage: vga-vbe [off]\n");
        return 2;
    }
    /* A 16-bit access to 0x1cf also touches 0x1d0: three ports, or the first inw faults. */
    if (ioperm(VBE_INDEX, 3, 1) != 0) {
        perror("ioperm");
        return 1;
    }
    unsigned was = enable_reg();
    if (argc == 2) {
        outw(VBE_ENABLE, VBE_INDEX);
        outw(0, VBE_DATA);
    }
    printf("{\"was\":\"0x%x\",\"now\":\"0x%x\"}\n", was, enable_reg());
    return 0;
}

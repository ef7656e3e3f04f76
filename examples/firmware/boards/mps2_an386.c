/* Board support for QEMU's mps2-an386 (Cortex-M4 + FPU): reset handler,
 * vector table, the CMSDK UART for the serial link, a CMSDK timer as the
 * instruction counter, and Arm semihosting for the audio file, diagnostics
 * and the exit code.
 *
 *   qemu-system-arm -machine mps2-an386 -nographic -icount shift=0 \
 *     -semihosting-config enable=on,target=native,arg=firmware,arg=clip.raw \
 *     -serial tcp:127.0.0.1:PORT,server=on -kernel firmware.elf
 *
 * With -icount shift=0 QEMU's virtual clock advances 1 ns per instruction,
 * and the timer counts at 25 MHz of that clock: one tick per 40 instructions
 * (board_counter() returns ticks x 40; kInstructionsPerTick is checked at
 * start-up against a loop of known length). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UART0_DATA (*(volatile uint32_t *)0x40004000u)
#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t *)0x40004010u)
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_READ = 0x06, SYS_GET_CMDLINE = 0x15,
       SYS_EXIT_EXTENDED = 0x20, ADP_STOPPED_APPLICATION_EXIT = 0x20026 };
static const uint32_t kInstructionsPerTick = 40;

static uint32_t semihost(uint32_t op, const void *arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

__attribute__((noreturn)) static void semihost_exit(int code) {
  uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
  for (;;) semihost(SYS_EXIT_EXTENDED, block);
}

static int g_audio = -1;

size_t board_read_audio(int16_t *samples, size_t count) {
  uint32_t args[3] = {(uint32_t)g_audio, (uint32_t)samples, (uint32_t)(count * sizeof(int16_t))};
  uint32_t left = semihost(SYS_READ, args); /* bytes NOT read */
  return (count * sizeof(int16_t) - left) / sizeof(int16_t);
}

void board_uart_write(const uint8_t *data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    while (UART0_STATE & 1u) { /* TX buffer full */ }
    UART0_DATA = data[i];
  }
}

void board_log(const char *line) {
  semihost(SYS_WRITE0, line);
  semihost(SYS_WRITE0, "\n");
}

uint32_t board_counter(void) { return (0xFFFFFFFFu - TIMER0_VALUE) * kInstructionsPerTick; }

int main(void);
extern void __libc_init_array(void);
extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;

/* argv[1] of the semihosting command line: the raw audio file. */
static int open_audio(void) {
  static char cmdline[256];
  uint32_t args[2] = {(uint32_t)cmdline, sizeof(cmdline) - 1};
  if (semihost(SYS_GET_CMDLINE, args) != 0) return -1;
  char *path = strchr(cmdline, ' ');
  if (path == NULL) return -1;
  ++path;
  uint32_t open_args[3] = {(uint32_t)path, 1 /* "rb" */, strlen(path)};
  return (int)semihost(SYS_OPEN, open_args);
}

/* Known length: 2 instructions (subs, bne) per iteration. */
static uint32_t count_loop(uint32_t iterations) {
  uint32_t before = board_counter();
  __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(iterations) : : "cc");
  return board_counter() - before;
}

void Reset_Handler(void) {
  uint32_t *src = &__data_load__;
  for (uint32_t *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  CPACR |= 0xFu << 20; /* CP10, CP11: the FPU */
  __asm__ volatile("dsb\n isb");
  UART0_BAUDDIV = 16;
  UART0_CTRL = 1; /* TX enable */
  TIMER0_RELOAD = 0xFFFFFFFFu;
  TIMER0_VALUE = 0xFFFFFFFFu;
  TIMER0_CTRL = 1;
  __libc_init_array();
  g_audio = open_audio();
  if (g_audio < 0) {
    board_log("no audio file: pass it as the second semihosting argument");
    semihost_exit(100);
  }
  /* Under -icount shift=0 the counter is the instruction count: the loop's length, the same
   * every time. On host time a fast host can land one run in the window by chance (QEMU runs
   * about one instruction per ns there too), but not two runs within one 40-count tick (the
   * tick's phase at the start may differ by one). */
  uint32_t counted = count_loop(1000000);
  uint32_t again = count_loop(1000000);
  uint32_t apart = again > counted ? again - counted : counted - again;
  if (counted < 1900000u || counted > 2100000u || apart > kInstructionsPerTick) { /* not under -icount shift=0 */
    board_log("board_counter does not count instructions (run QEMU with -icount shift=0)");
    semihost_exit(101);
  }
  semihost_exit(main());
}

static void Fault_Handler(void) {
  board_log("fault");
  semihost_exit(102);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top__, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

/* newlib's heap and exit; libnosys (--specs=nosys.specs) stubs the other system calls. */
void *_sbrk(ptrdiff_t increment) {
  extern char __heap_start__, __heap_end__;
  static char *heap = &__heap_start__;
  if (heap + increment > &__heap_end__) return (void *)-1;
  char *previous = heap;
  heap += increment;
  return previous;
}
void _exit(int code) { semihost_exit(code); }
/* -nostartfiles leaves out crti/crtn and crtbegin: __libc_init_array still calls
 * _init/_fini, and the static C++ objects' destructors register with __dso_handle. */
void *__dso_handle = &__dso_handle;
void _init(void) {}
void _fini(void) {}

/* Board hooks for running the firmware as a host program (Linux, macOS):
 * audio is raw 16-bit little-endian mono PCM on stdin, the serial link's
 * frames go to stdout, diagnostics to stderr.
 *   ./firmware < clip.raw > frames.bin 2> log.txt                          */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

size_t board_read_audio(int16_t *samples, size_t count) { return fread(samples, sizeof(int16_t), count, stdin); }

void board_uart_write(const uint8_t *data, size_t len) {
  fwrite(data, 1, len, stdout);
  fflush(stdout);
}

void board_log(const char *line) { fprintf(stderr, "%s\n", line); }

uint32_t board_counter(void) { return 0; }

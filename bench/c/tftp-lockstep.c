/*
 * Lock-step TFTP read client for the floor in bench/tftp.ts: one RRQ (octet, optional blksize),
 * then ACK each DATA block as soon as it arrives, like a PXE ROM. REPS transfers one after the other;
 * prints "us_per_block N bytes B" for each. Usage: tftp-lockstep PORT FILE BLKSIZE REPS.
 * Exits 1 on an ERROR packet or when a block does not come within a second (no retransmits here:
 * on loopback nothing is lost, and a benchmark client must not hide a stalled server).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int transfer(int port, const char *file, int blksize) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct timeval limit = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  struct sockaddr_in server = {0};
  server.sin_family = AF_INET;
  server.sin_port = htons(port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char rrq[600];
  int n = 2;
  rrq[0] = 0;
  rrq[1] = 1;
  n += snprintf(rrq + n, 300, "%s", file) + 1;
  n += snprintf(rrq + n, 10, "octet") + 1;
  if (blksize != 512) {
    n += snprintf(rrq + n, 10, "blksize") + 1;
    n += snprintf(rrq + n, 10, "%d", blksize) + 1;
  }
  static unsigned char in[65536 + 4];
  double t0 = seconds();
  sendto(fd, rrq, n, 0, (struct sockaddr *)&server, sizeof server);
  long bytes = 0;
  long blocks = 0;
  int connected = 0;
  for (;;) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    int got = recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &len);
    if (got < 4) {
      fprintf(stderr, "tftp-lockstep: no block after %ld\n", blocks);
      return 1;
    }
    if (!connected) {
      connect(fd, (struct sockaddr *)&from, len); /* the server's transfer port from now on */
      connected = 1;
    }
    int op = in[0] << 8 | in[1];
    unsigned char ack[4] = {0, 4, 0, 0};
    if (op == 6) { /* OACK: acknowledge with block 0 */
      send(fd, ack, 4, 0);
      continue;
    }
    if (op != 3) {
      fprintf(stderr, "tftp-lockstep: opcode %d: %s\n", op, op == 5 ? (char *)in + 4 : "");
      return 1;
    }
    ack[2] = in[2];
    ack[3] = in[3];
    send(fd, ack, 4, 0);
    bytes += got - 4;
    blocks++;
    if (got - 4 < blksize) break;
  }
  printf("us_per_block %.2f bytes %ld\n", (seconds() - t0) * 1e6 / blocks, bytes);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: tftp-lockstep PORT FILE BLKSIZE REPS\n");
    return 2;
  }
  for (int r = 0; r < atoi(argv[4]); r++)
    if (transfer(atoi(argv[1]), argv[2], atoi(argv[3]))) return 1;
  return 0;
}

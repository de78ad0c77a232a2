/*
 * Round-trip client for the floor in bench/tftp.ts: sends a 4-byte datagram (the size of a TFTP
 * ACK), waits for the answer, COUNT times after a warm-up of 500. Prints "us_per_rtt N".
 * Usage: udp-ping PORT COUNT. Exits 1 when an answer does not come within a second.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: udp-ping PORT COUNT\n");
    return 2;
  }
  int count = atoi(argv[2]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons(atoi(argv[1]));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval limit = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
    perror("udp-ping: connect");
    return 1;
  }
  char ack[4] = {0, 4, 0, 1};
  static char in[65536];
  double t0 = 0;
  for (int i = -500; i < count; i++) {
    if (i == 0) t0 = seconds();
    if (send(fd, ack, sizeof ack, 0) < 0 || recv(fd, in, sizeof in, 0) < 0) {
      perror("udp-ping: no answer");
      return 1;
    }
  }
  printf("us_per_rtt %.2f\n", (seconds() - t0) * 1e6 / count);
  return 0;
}

/*
 * The C side of the round-trip floor in bench/tftp.ts: a blocking UDP server that answers every
 * datagram with REPLY bytes, nothing else. Usage: udp-echo PORT REPLY_BYTES (binds 127.0.0.1).
 * It waits in poll() like in.tftpd and dnsmasq do, then recvfrom() and sendto().
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: udp-echo PORT REPLY_BYTES\n");
    return 2;
  }
  int reply = atoi(argv[2]);
  static char buf[65536];
  if (reply < 1 || reply > (int)sizeof buf) return 2;
  memset(buf, 0x5a, sizeof buf);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in me = {0};
  me.sin_family = AF_INET;
  me.sin_port = htons(atoi(argv[1]));
  me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
    perror("udp-echo: bind");
    return 1;
  }
  static char in[65536];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0) continue;
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    if (recvfrom(fd, in, sizeof in, 0, (struct sockaddr *)&from, &len) < 0) continue;
    sendto(fd, buf, reply, 0, (struct sockaddr *)&from, len);
  }
}

// SPDX-License-Identifier: MIT
// xdp-raw-tx.c — the AF_XDP transmit rate of this machine in C, the floor drivers/afxdp is held to.
//
// Sends the same Ethernet frame (broadcast, EtherType 0x88B5 "local experimental") as fast as an
// AF_XDP socket takes it: UMEM of 4096 x 2 KiB frames, TX and completion rings of 2048, batches
// of 64 descriptors, one sendto per batch, completions reaped each round. Raw syscalls only
// (linux/if_xdp.h, linux/bpf.h). Zero-copy is tried first, copy mode otherwise; both are reported.
// With -d PEER it first attaches a two-instruction XDP_DROP program (native, else generic; -g:
// generic only) to PEER, an interface in the same namespace (the other end of the veth), so the
// receiver does no stack work; the link dies with the process. On veth, native XDP on the
// receiving end costs more than it saves for these skbs (veth converts each one to an xdp_buff,
// reallocating when the headroom is short): compare -d, -d -g and no -d.
//
//   cc -O2 -Wall -o build/xdp-raw-tx tools/xdp-raw-tx.c
//   ip netns add xt; ip -n xt link add a type veth peer name b; ip -n xt link set a up; ip -n xt link set b up
//   ip netns exec xt build/xdp-raw-tx -i a -d b -s 64 -t 3
// Prints one line per second and a summary: "tx 64 B: 0.93 Mpps (copy mode, peer drop: native)".
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

enum { FRAMES = 4096, FRAME = 2048, RING = 2048, BATCH = 64 };

struct ring {
  volatile uint32_t *prod, *cons;
  void *desc;
  uint32_t mask;
};

static void die(const char *what) {
  fprintf(stderr, "xdp-raw-tx: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void map_ring(int fd, const struct xdp_ring_offset *o, off_t pgoff, size_t entry, struct ring *r) {
  size_t len = o->desc + RING * entry;
  char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
  if (m == MAP_FAILED) die("mmap ring");
  r->prod = (volatile uint32_t *)(m + o->producer);
  r->cons = (volatile uint32_t *)(m + o->consumer);
  r->desc = m + o->desc;
  r->mask = RING - 1;
}

// XDP_DROP on `ifname` through a bpf_link: returns "native", "generic" or dies.
static const char *attach_drop(const char *ifname, int generic_only) {
  unsigned idx = if_nametoindex(ifname);
  if (idx == 0) die("if_nametoindex (peer)");
  struct bpf_insn prog[2];
  memset(prog, 0, sizeof prog);
  prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = XDP_DROP */
  prog[0].dst_reg = BPF_REG_0;
  prog[0].imm = XDP_DROP;
  prog[1].code = BPF_JMP | BPF_EXIT;
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.expected_attach_type = BPF_XDP;
  a.insns = (uint64_t)(uintptr_t)prog;
  a.insn_cnt = 2;
  a.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
  int pfd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &a, sizeof a);
  if (pfd < 0) die("bpf(BPF_PROG_LOAD)");
  const uint32_t modes[2] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
  for (int i = generic_only; i < 2; i++) {
    memset(&a, 0, sizeof a);
    a.link_create.prog_fd = pfd;
    a.link_create.target_ifindex = idx;
    a.link_create.attach_type = BPF_XDP;
    a.link_create.flags = modes[i];
    if (syscall(__NR_bpf, BPF_LINK_CREATE, &a, sizeof a) >= 0) return i == 0 ? "native" : "generic";
  }
  die("bpf(BPF_LINK_CREATE) on the peer");
  return NULL;
}

int main(int argc, char **argv) {
  const char *ifname = NULL, *peer = NULL;
  unsigned size = 64, queue = 0;
  double secs = 3;
  int opt, generic = 0;
  while ((opt = getopt(argc, argv, "i:q:s:t:d:g")) != -1) {
    if (opt == 'i') ifname = optarg;
    else if (opt == 'q') queue = (unsigned)atoi(optarg);
    else if (opt == 's') size = (unsigned)atoi(optarg);
    else if (opt == 't') secs = atof(optarg);
    else if (opt == 'd') peer = optarg;
    else if (opt == 'g') generic = 1;
    else {
      fprintf(stderr, "usage: xdp-raw-tx -i IFNAME [-q QUEUE] [-s 60..1514] [-t SECONDS] [-d PEER_IFNAME [-g]]\n");
      return 2;
    }
  }
  if (ifname == NULL || size < 60 || size > 1514) {
    fprintf(stderr, "usage: xdp-raw-tx -i IFNAME [-q QUEUE] [-s 60..1514] [-t SECONDS] [-d PEER_IFNAME]\n");
    return 2;
  }
  unsigned idx = if_nametoindex(ifname);
  if (idx == 0) die("if_nametoindex");
  const char *peer_mode = peer ? attach_drop(peer, generic) : "none";

  char *umem = mmap(NULL, (size_t)FRAMES * FRAME, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (umem == MAP_FAILED) die("mmap umem");
  for (unsigned f = 0; f < FRAMES; f++) {
    unsigned char *p = (unsigned char *)umem + (size_t)f * FRAME;
    memset(p, 0xff, 6);                                 /* broadcast */
    memcpy(p + 6, "\x02\x00\x00\x00\x00\x01", 6);       /* locally administered source */
    p[12] = 0x88, p[13] = 0xb5;                         /* local experimental EtherType */
    memset(p + 14, 0x5a, size - 14);
  }
  int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket(AF_XDP) (root or CAP_NET_RAW needed)");
  struct xdp_umem_reg reg = {.addr = (uint64_t)(uintptr_t)umem, .len = (uint64_t)FRAMES * FRAME, .chunk_size = FRAME};
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg)) die("XDP_UMEM_REG");
  int n = RING;
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) || setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) ||
      setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof n))
    die("ring sizes");
  uint32_t budget = RING; /* XDP_MAX_TX_SKB_BUDGET (Linux 6.17): copy mode sends 32 per sendto without it */
  int have_budget = setsockopt(fd, SOL_XDP, 9, &budget, sizeof budget) == 0;
  struct xdp_mmap_offsets off;
  socklen_t ol = sizeof off;
  if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol)) die("XDP_MMAP_OFFSETS");
  struct ring tx, cq;
  map_ring(fd, &off.tx, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc), &tx);
  map_ring(fd, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t), &cq);
  struct sockaddr_xdp sx = {.sxdp_family = AF_XDP, .sxdp_ifindex = idx, .sxdp_queue_id = queue,
                            .sxdp_flags = XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP};
  int zc = bind(fd, (struct sockaddr *)&sx, sizeof sx) == 0;
  if (!zc) {
    sx.sxdp_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
    if (bind(fd, (struct sockaddr *)&sx, sizeof sx)) die("bind");
  }

  uint32_t prod = *tx.prod, ccons = *cq.cons, next = 0, inflight = 0;
  uint64_t sent = 0, done = 0, busy = 0, last_done = 0;
  double t0 = now(), tick = t0 + 1, end = t0 + secs;
  for (;;) {
    uint32_t room = RING - (prod - *tx.cons);
    uint32_t k = room < BATCH ? room : BATCH;
    if (k > FRAMES - inflight) k = FRAMES - inflight;
    struct xdp_desc *d = tx.desc;
    for (uint32_t i = 0; i < k; i++) {
      d[(prod + i) & tx.mask] = (struct xdp_desc){.addr = (uint64_t)next * FRAME, .len = size};
      next = (next + 1) % FRAMES;
    }
    __atomic_store_n(tx.prod, prod + k, __ATOMIC_RELEASE);
    prod += k, inflight += k, sent += k;
    if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN) {
      if (errno != EBUSY && errno != ENOBUFS) die("sendto");
      busy++;
    }
    uint32_t cp = __atomic_load_n(cq.prod, __ATOMIC_ACQUIRE);
    uint32_t c = cp - ccons;
    ccons = cp;
    __atomic_store_n(cq.cons, ccons, __ATOMIC_RELEASE);
    inflight -= c, done += c;
    double t = now();
    if (t >= tick) {
      printf("%.0f s: %.3f Mpps\n", tick - t0, (done - last_done) / 1e6);
      fflush(stdout);
      last_done = done, tick += 1;
    }
    if (t >= end) break;
  }
  double el = now() - t0;
  printf("tx %u B on %s q%u: %.3f Mpps, %.2f Gbit/s (%s mode, tx budget %s, peer drop: %s, busy kicks %llu, sent %llu)\n",
         size, ifname, queue, done / el / 1e6, done * size * 8 / el / 1e9, zc ? "zero-copy" : "copy",
         have_budget ? "2048" : "32", peer_mode, (unsigned long long)busy, (unsigned long long)sent);
  return 0;
}

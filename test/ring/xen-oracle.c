/* SPDX-License-Identifier: MIT */
/*
 * xen-oracle.c — ground truth from the installed Xen public headers (Debian libxen-dev), for
 * test/ring/layout-xen.test.ts, which writes layout-gen.h from src/ring/layout.ts and builds this.
 *
 *   xen-oracle layout   one JSON object per line: struct sizes, member offsets/sizes/signedness,
 *                       __CONST_RING_SIZE for a few page sizes, netif.h constant values.
 *   xen-oracle ring     reads lines of 8 uint32 (req_prod req_event rsp_prod rsp_event req_cons
 *                       rsp_prod_pvt req_prod_pvt rsp_cons), applies the ring.h macros to a real
 *                       netif_tx ring page holding them, prints one JSON object per line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xen/xen-compat.h>

/* ring.h leaves the barriers to the includer; user space has no mb()/xen_mb(). */
#if __XEN_INTERFACE_VERSION__ < 0x00030208
#define mb() __sync_synchronize()
#define rmb() __sync_synchronize()
#define wmb() __sync_synchronize()
#else
#define xen_mb() __sync_synchronize()
#define xen_rmb() __sync_synchronize()
#define xen_wmb() __sync_synchronize()
#endif

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/ring.h>
#include <xen/io/netif.h>

#define STRUCT(name, T, bytes)                                                                   \
  printf("{\"kind\":\"struct\",\"name\":\"%s\",\"ctype\":\"%s\",\"bytes\":%zu}\n", name, #T,     \
         (size_t)(bytes));
#define FIELD(name, T, key, m)                                                                   \
  printf("{\"kind\":\"field\",\"name\":\"%s\",\"field\":\"%s\",\"offset\":%zu,\"bytes\":%zu}\n", \
         name, key, offsetof(T, m), sizeof(((T *)0)->m));
#define SCALAR(name, T, key, m)                                                                  \
  printf("{\"kind\":\"scalar\",\"name\":\"%s\",\"field\":\"%s\",\"signed\":%d}\n", name, key,    \
         (int)((__typeof__(((T *)0)->m))-1 < 0));
#define RING(name, cname, page)                                                                  \
  printf("{\"kind\":\"ring\",\"name\":\"%s\",\"page\":%d,\"size\":%lu}\n", name, page,           \
         (unsigned long)__CONST_RING_SIZE(cname, page));
#define CONST(name, v) printf("{\"kind\":\"const\",\"name\":\"%s\",\"value\":%lld}\n", name, (long long)(v));

static void layout(void) {
  printf("{\"kind\":\"version\",\"value\":%d}\n", __XEN_INTERFACE_VERSION__);
#include "layout-gen.h"
}

static union {
  struct netif_tx_sring s;
  unsigned char page[4096];
} tx_page;
static union {
  struct netif_rx_sring s;
  unsigned char page[4096];
} rx_page;

/* Put the case's values back on the page and in the private rings. */
static void load(const RING_IDX *v, netif_tx_back_ring_t *b, netif_tx_front_ring_t *f) {
  struct netif_tx_sring *s = &tx_page.s;
  SHARED_RING_INIT(s);
  s->req_prod = v[0];
  s->req_event = v[1];
  s->rsp_prod = v[2];
  s->rsp_event = v[3];
  BACK_RING_ATTACH(b, s, v[4], 4096);
  b->rsp_prod_pvt = v[5];
  FRONT_RING_ATTACH(f, s, v[6], 4096);
  f->rsp_cons = v[7];
}

static void ring(void) {
  RING_IDX v[8];
  netif_tx_back_ring_t b;
  netif_tx_front_ring_t f;
  netif_rx_back_ring_t rb;
  struct netif_tx_sring *s = &tx_page.s;
  while (scanf("%u %u %u %u %u %u %u %u", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
    int notify, work;
    load(v, &b, &f);
    unsigned unconsumed_req = XEN_RING_NR_UNCONSUMED_REQUESTS(&b);
    unsigned unconsumed_rsp = XEN_RING_NR_UNCONSUMED_RESPONSES(&f);
    int cons_ovf = RING_REQUEST_CONS_OVERFLOW(&b, b.req_cons);
    int req_ovf = RING_REQUEST_PROD_OVERFLOW(&b, s->req_prod);
    int rsp_ovf = RING_RESPONSE_PROD_OVERFLOW(&f, s->rsp_prod);
    unsigned free_req = RING_FREE_REQUESTS(&f);
    long tx_slot = (char *)RING_GET_REQUEST(&b, b.req_cons) - (char *)s;
    BACK_RING_ATTACH(&rb, &rx_page.s, v[4], 4096);
    long rx_slot = (char *)RING_GET_REQUEST(&rb, rb.req_cons) - (char *)&rx_page.s;

    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b, notify);
    int push_rsp = notify;
    unsigned rsp_prod_after = s->rsp_prod;
    load(v, &b, &f);
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f, notify);
    int push_req = notify;
    unsigned req_prod_after = s->req_prod;
    load(v, &b, &f);
    RING_FINAL_CHECK_FOR_REQUESTS(&b, work);
    int final_req = work != 0;
    unsigned req_event_after = s->req_event;
    load(v, &b, &f);
    RING_FINAL_CHECK_FOR_RESPONSES(&f, work);
    int final_rsp = work != 0;
    unsigned rsp_event_after = s->rsp_event;

    printf("{\"unconsumedReq\":%u,\"unconsumedRsp\":%u,\"consOverflow\":%d,\"reqProdOverflow\":%d,"
           "\"rspProdOverflow\":%d,\"freeRequests\":%u,\"txSlot\":%ld,\"rxSlot\":%ld,"
           "\"pushResponses\":%d,\"rspProdAfter\":%u,\"pushRequests\":%d,\"reqProdAfter\":%u,"
           "\"finalCheckForRequests\":%d,\"reqEventAfter\":%u,"
           "\"finalCheckForResponses\":%d,\"rspEventAfter\":%u}\n",
           unconsumed_req, unconsumed_rsp, cons_ovf, req_ovf, rsp_ovf, free_req, tx_slot, rx_slot,
           push_rsp, rsp_prod_after, push_req, req_prod_after, final_req, req_event_after, final_rsp,
           rsp_event_after);
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "layout") == 0) {
    layout();
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "ring") == 0) {
    ring();
    return 0;
  }
  fprintf(stderr, "usage: %s layout|ring\n", argv[0]);
  return 2;
}

/*
 * pubbench.c - publish-side load generator for the hub: the latency and rate of Mercure publishes.
 *
 * ../shared/bench/ssebench measures fan-out (subscribers, deliveries per second, delivery latency); its publisher
 * only paces updates and does not report how long each publish takes to be answered. The hub answers a publish
 * once its event store has committed the update, so the store's cost shows in the publish round trip: this tool
 * records every publish's latency (request sent -> full response read) and reports its percentiles and the rate.
 *
 * Each of --conns HTTP/1.1 keep-alive connections has one publish in flight at a time:
 *   POST /.well-known/mercure, Content-Type: application/x-www-form-urlencoded, body topic=<topic>&data=<payload>.
 * A publish is counted as published when answered 200 (the event id as body); any other status, or a connection
 * lost with a publish in flight, is an error, and the first one is printed on stderr. --warmup publishes run (and
 * complete) before the measured ones and are not counted. The run stops after --requests measured publishes or
 * after --duration seconds, whichever comes first; the publishes in flight then complete.
 *
 * Output: one JSON line on stdout,
 *   {"conns":..,"published":..,"errors":..,"seconds":..,"rate":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..,
 *    "payload":..}
 * with seconds from the first measured publish sent to the last one answered, rate = published / seconds and the
 * percentiles over the measured publishes answered 200.
 *
 * Targets must be on loopback (127.0.0.0/8). Every wait is bounded: one connect or publish may take at most
 * --request-timeout seconds and the whole run --timeout seconds; past either the program says so and exits 3.
 * Exit status: 0 without errors, 1 with errors (the JSON line is still printed), 2 on bad usage, 3 on a hang or a
 * connection that cannot be made.
 *
 * Build: gcc -O2 -o pubbench pubbench.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXH 32
#define RBUF 65536 /* one response (head and body) must fit */

typedef unsigned long long ull;

static struct {
  struct sockaddr_in sa;
  char hostport[256], path[2048];
  const char *hdr[MAXH], *topic;
  int nhdr, conns, payload;
  long requests, warmup;
  double duration, timeout, request_timeout;
} opt = { .topic = "https://example.com/pubbench", .conns = 1, .payload = 200, .timeout = 120,
          .request_timeout = 10 };

typedef struct {
  int fd, connected, busy, measured; /* busy: a publish is in flight; measured: it counts */
  char *req;
  size_t reqlen, sent, rlen;
  uint64_t t_send, t_open;
  char rbuf[RBUF];
} conn_t;

static conn_t *cs;
static int ep;
static char *body_tmpl;
static size_t body_len, payload_off;
static uint64_t *lat; /* ns, one per measured publish */
static long nlat, caplat;
static long issued, completed, published, errors, warmup_errors, seq; /* of the current phase, except seq */
static int measuring, printed_error;
static uint64_t deadline;

/* ---------- helpers ---------- */
static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("pubbench: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(code);
}

static void parse_url(const char *raw) {
  char host[256];
  int port = 80;
  if (strncmp(raw, "http://", 7)) die(2, "only http:// URLs are supported: %s", raw);
  const char *p = raw + 7, *slash = strchr(p, '/');
  size_t hl = slash ? (size_t)(slash - p) : strlen(p);
  if (hl == 0 || hl >= sizeof host) die(2, "bad URL: %s", raw);
  memcpy(host, p, hl);
  host[hl] = 0;
  snprintf(opt.hostport, sizeof opt.hostport, "%s", host);
  char *colon = strchr(host, ':');
  if (colon) {
    *colon = 0;
    port = atoi(colon + 1);
    if (port <= 0 || port > 65535) die(2, "bad port in %s", raw);
  }
  snprintf(opt.path, sizeof opt.path, "%s", slash ? slash : "/");
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  opt.sa.sin_family = AF_INET;
  opt.sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &opt.sa.sin_addr) != 1) die(2, "host must be an IPv4 address on loopback: %s", host);
  if ((ntohl(opt.sa.sin_addr.s_addr) >> 24) != 127) die(2, "refusing non-loopback target (only 127.0.0.0/8 allowed)");
}

/* application/x-www-form-urlencoded: unreserved characters as they are, the rest %XX. */
static size_t form_encode(char *out, const char *in) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("-._~", *s)) {
      out[n++] = (char)*s;
    } else {
      out[n++] = '%';
      out[n++] = hex[*s >> 4];
      out[n++] = hex[*s & 15];
    }
  }
  return n;
}

/* The body is the same for every publish but for a sequence number at the start of the data (when it fits). */
static void build_body(void) {
  size_t tl = strlen(opt.topic);
  body_tmpl = malloc(16 + tl * 3 + (size_t)opt.payload);
  size_t n = 0;
  memcpy(body_tmpl, "topic=", 6);
  n = 6 + form_encode(body_tmpl + 6, opt.topic);
  memcpy(body_tmpl + n, "&data=", 6);
  n += 6;
  payload_off = n;
  memset(body_tmpl + n, 'x', (size_t)opt.payload);
  body_len = n + (size_t)opt.payload;
}

static void build_request(conn_t *c) {
  size_t hl = 0;
  for (int i = 0; i < opt.nhdr; i++) hl += strlen(opt.hdr[i]) + 2;
  size_t cap = strlen(opt.path) + strlen(opt.hostport) + hl + body_len + 256;
  c->req = malloc(cap);
  int n = snprintf(c->req, cap,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: %zu\r\n", opt.path, opt.hostport, body_len);
  for (int i = 0; i < opt.nhdr; i++) n += snprintf(c->req + n, cap - (size_t)n, "%s\r\n", opt.hdr[i]);
  n += snprintf(c->req + n, cap - (size_t)n, "\r\n");
  memcpy(c->req + n, body_tmpl, body_len);
  c->reqlen = (size_t)n + body_len;
}

/* ---------- connections ---------- */
static void watch(conn_t *c, uint32_t events, int op) {
  struct epoll_event ev = { .events = events, .data.ptr = c };
  if (epoll_ctl(ep, op, c->fd, &ev) < 0) die(3, "epoll_ctl: %s", strerror(errno));
}

static void open_conn(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die(3, "socket: %s", strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->connected = 0;
  c->rlen = 0;
  c->t_open = now_ns();
  if (connect(c->fd, (struct sockaddr *)&opt.sa, sizeof opt.sa) < 0 && errno != EINPROGRESS)
    die(3, "connect to %s: %s", opt.hostport, strerror(errno));
  watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static void record(conn_t *c, int ok, const char *what, const char *detail, size_t dlen) {
  uint64_t t = now_ns();
  c->busy = 0;
  if (!printed_error && !ok) {
    printed_error = 1;
    fprintf(stderr, "pubbench: first error (%s): %s: %.*s\n", c->measured ? "measured" : "warmup", what,
            (int)(dlen > 1000 ? 1000 : dlen), detail);
  }
  completed++;
  if (!c->measured) {
    if (!ok) warmup_errors++;
    return;
  }
  if (!ok) {
    errors++;
    return;
  }
  published++;
  if (nlat == caplat) {
    caplat = caplat ? caplat * 2 : 4096;
    lat = realloc(lat, (size_t)caplat * sizeof *lat);
    if (!lat) die(3, "out of memory");
  }
  lat[nlat++] = t - c->t_send;
}

/* A lost connection fails the publish in flight (if any) and is opened again. */
static void reconnect(conn_t *c, const char *why) {
  if (c->busy) record(c, 0, "connection lost", why, strlen(why));
  close(c->fd);
  open_conn(c);
}

static void try_send(conn_t *c) {
  while (c->sent < c->reqlen) {
    ssize_t w = send(c->fd, c->req + c->sent, c->reqlen - c->sent, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) { watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD); return; }
      if (errno == EINTR) continue;
      reconnect(c, strerror(errno));
      return;
    }
    c->sent += (size_t)w;
  }
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void start_publish(conn_t *c) {
  c->busy = 1;
  c->measured = measuring;
  c->sent = 0;
  c->rlen = 0;
  issued++;
  if (opt.payload >= 12) { /* "n<10 digits>-" */
    char tag[16];
    snprintf(tag, sizeof tag, "n%010llu-", (ull)(seq % 10000000000ull));
    memcpy(c->req + c->reqlen - body_len + payload_off, tag, 12);
  }
  seq++;
  c->t_send = now_ns();
  try_send(c);
}

/* Parses what c has read: 0 when the response is still incomplete, 1 once one has been handled. */
static int parse_response(conn_t *c) {
  char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
  if (!end) {
    if (c->rlen == RBUF) { reconnect(c, "response head too large"); return 1; }
    return 0;
  }
  size_t head = (size_t)(end - c->rbuf) + 4;
  int status = 0, has_length = 0, close_after = 0;
  long long length = 0;
  if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) || sscanf(c->rbuf + 9, "%3d", &status) != 1) {
    reconnect(c, "malformed status line");
    return 1;
  }
  for (char *line = memmem(c->rbuf, head, "\r\n", 2) + 2; line < end;
       line = (char *)memmem(line, (size_t)(end + 2 - line), "\r\n", 2) + 2) {
    if (!strncasecmp(line, "Content-Length:", 15)) {
      has_length = 1;
      length = strtoll(line + 15, NULL, 10);
    } else if (!strncasecmp(line, "Transfer-Encoding:", 18)) {
      die(3, "chunked responses are not supported (status %d)", status);
    } else if (!strncasecmp(line, "Connection:", 11)) {
      char *v = line + 11;
      while (*v == ' ') v++;
      if (!strncasecmp(v, "close", 5)) close_after = 1;
    }
  }
  if (status >= 100 && status < 200) { /* an interim response: the final one follows */
    memmove(c->rbuf, c->rbuf + head, c->rlen - head);
    c->rlen -= head;
    return parse_response(c);
  }
  if (!has_length) {
    if (status != 204 && status != 304) die(3, "response without Content-Length (status %d)", status);
    length = 0;
  }
  if (length < 0 || (size_t)length > RBUF - head) { reconnect(c, "response body too large"); return 1; }
  if (c->rlen < head + (size_t)length) return 0;
  char what[32];
  snprintf(what, sizeof what, "status %d", status);
  record(c, status == 200, what, c->rbuf + head, (size_t)length);
  size_t used = head + (size_t)length;
  memmove(c->rbuf, c->rbuf + used, c->rlen - used);
  c->rlen -= used;
  if (c->rlen) { reconnect(c, "bytes after the response"); return 1; }
  if (close_after) { close(c->fd); open_conn(c); }
  return 1;
}

static void on_readable(conn_t *c) {
  for (;;) {
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
    if (r < 0) {
      if (errno == EAGAIN) return;
      if (errno == EINTR) continue;
      reconnect(c, strerror(errno));
      return;
    }
    if (r == 0) { reconnect(c, "closed by the server"); return; }
    if (!c->busy) { reconnect(c, "response without a request"); return; }
    c->rlen += (size_t)r;
    if (parse_response(c)) return;
  }
}

static void on_event(conn_t *c, uint32_t events) {
  if (!c->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) die(3, "connect to %s: %s", opt.hostport, strerror(err));
    c->connected = 1;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
  else if ((events & EPOLLOUT) && c->busy) try_send(c);
}

/* Turns the loop until done() holds, starting publishes on idle connections while may_issue() allows. */
static void pump(int (*done)(void), int (*may_issue)(void)) {
  struct epoll_event evs[256];
  while (!done()) {
    uint64_t t = now_ns();
    if (t > deadline)
      die(3, "run deadline (--timeout %gs) reached with %ld of this phase's publishes answered", opt.timeout,
          completed);
    for (int i = 0; i < opt.conns; i++) {
      conn_t *c = &cs[i];
      if (c->busy && t - c->t_send > (uint64_t)(opt.request_timeout * 1e9))
        die(3, "a publish has had no full response for %gs (--request-timeout); %ld of this phase's answered",
            opt.request_timeout, completed);
      if (!c->connected && t - c->t_open > (uint64_t)(opt.request_timeout * 1e9))
        die(3, "a connection to %s has not been made in %gs (--request-timeout)", opt.hostport, opt.request_timeout);
      if (!c->busy && c->connected && may_issue()) start_publish(c);
    }
    int n = epoll_wait(ep, evs, 256, 50);
    if (n < 0 && errno != EINTR) die(3, "epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      int was_busy = c->busy;
      on_event(c, evs[i].events);
      /* Answered: the next publish goes out at once rather than on the next turn. */
      if (was_busy && !c->busy && c->connected && may_issue()) start_publish(c);
    }
  }
}

static long phase_target;
static uint64_t phase_end; /* 0: no time limit */
static int all_connected(void) {
  for (int i = 0; i < opt.conns; i++) if (!cs[i].connected) return 0;
  return 1;
}
static int never(void) { return 0; }
static int may_issue(void) {
  if (phase_target && issued >= phase_target) return 0;
  return !phase_end || now_ns() < phase_end;
}
static int phase_done(void) {
  for (int i = 0; i < opt.conns; i++) if (cs[i].busy) return 0;
  return !may_issue();
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static double pct_ms(double p) { /* nearest rank */
  if (!nlat) return 0;
  long i = (long)(p * (double)nlat + 0.999999) - 1;
  if (i < 0) i = 0;
  if (i >= nlat) i = nlat - 1;
  return (double)lat[i] / 1e6;
}

static void usage(void) {
  fprintf(stderr,
    "usage: pubbench --url http://127.0.0.1:PORT/.well-known/mercure [options]\n"
    "  -c, --conns N            publisher connections, one publish in flight each (default 1)\n"
    "  -n, --requests N         measured publishes (default 1000 unless --duration is given)\n"
    "  -t, --duration S         stop issuing after S seconds (with -n: whichever comes first)\n"
    "      --warmup N           publishes before the measured ones, not counted (default 0)\n"
    "      --payload BYTES      size of the data field (default 200)\n"
    "      --topic T            topic of every update (default https://example.com/pubbench)\n"
    "      --header 'K: V'      extra request header, repeatable (e.g. Authorization)\n"
    "      --timeout S          bound on the whole run (default 120)\n"
    "      --request-timeout S  bound on one connect or publish (default 10)\n");
  exit(2);
}

int main(int argc, char **argv) {
  static struct option lo[] = {
    {"url", 1, 0, 'u'}, {"conns", 1, 0, 'c'}, {"requests", 1, 0, 'n'}, {"duration", 1, 0, 't'},
    {"warmup", 1, 0, 'w'}, {"payload", 1, 0, 'p'}, {"topic", 1, 0, 'T'}, {"header", 1, 0, 'H'},
    {"timeout", 1, 0, 'O'}, {"request-timeout", 1, 0, 'R'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  const char *url = NULL;
  int o;
  while ((o = getopt_long(argc, argv, "u:c:n:t:H:h", lo, NULL)) != -1) {
    switch (o) {
    case 'u': url = optarg; break;
    case 'c': opt.conns = atoi(optarg); break;
    case 'n': opt.requests = atol(optarg); break;
    case 't': opt.duration = atof(optarg); break;
    case 'w': opt.warmup = atol(optarg); break;
    case 'p': opt.payload = atoi(optarg); break;
    case 'T': opt.topic = optarg; break;
    case 'H':
      if (opt.nhdr == MAXH) die(2, "at most %d headers", MAXH);
      if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n")) die(2, "a header is 'Name: value': %s", optarg);
      opt.hdr[opt.nhdr++] = optarg;
      break;
    case 'O': opt.timeout = atof(optarg); break;
    case 'R': opt.request_timeout = atof(optarg); break;
    default: usage();
    }
  }
  if (!url || optind != argc) usage();
  if (opt.conns < 1 || opt.conns > 10000) die(2, "--conns must be 1..10000");
  if (opt.requests < 0 || opt.warmup < 0 || opt.duration < 0) die(2, "negative count or duration");
  if (opt.payload < 0 || opt.payload > 16 * 1048576) die(2, "--payload must be 0..16777216");
  if (opt.timeout <= 0 || opt.request_timeout <= 0) die(2, "timeouts must be positive");
  if (!opt.requests && !opt.duration) opt.requests = 1000;
  parse_url(url);
  signal(SIGPIPE, SIG_IGN);

  build_body();
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die(3, "epoll_create1: %s", strerror(errno));
  cs = calloc((size_t)opt.conns, sizeof *cs);
  if (!cs) die(3, "out of memory");
  deadline = now_ns() + (uint64_t)(opt.timeout * 1e9);
  for (int i = 0; i < opt.conns; i++) {
    build_request(&cs[i]);
    open_conn(&cs[i]);
  }
  pump(all_connected, never);

  if (opt.warmup) {
    phase_target = opt.warmup;
    pump(phase_done, may_issue);
  }
  issued = completed = 0;
  measuring = 1;
  phase_target = opt.requests;
  uint64_t t0 = now_ns();
  phase_end = opt.duration ? t0 + (uint64_t)(opt.duration * 1e9) : 0;
  pump(phase_done, may_issue);
  double seconds = (double)(now_ns() - t0) / 1e9;
  if (warmup_errors) fprintf(stderr, "pubbench: %ld warmup publishes failed\n", warmup_errors);

  qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
  printf("{\"conns\":%d,\"published\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.1f,"
         "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"payload\":%d}\n",
         opt.conns, published, errors, seconds, seconds > 0 ? (double)published / seconds : 0.0,
         pct_ms(0.50), pct_ms(0.90), pct_ms(0.99), nlat ? (double)lat[nlat - 1] / 1e6 : 0.0, opt.payload);
  fflush(stdout);
  return errors ? 1 : 0;
}

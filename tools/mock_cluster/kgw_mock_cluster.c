/* kgw-mock-cluster: runs librdkafka's built-in mock Kafka cluster as a
 * standalone process, so tests, benchmarks and the capture tools have a
 * reference broker that we did not write.
 *
 * The happy path is: parse flags -> create a producer handle (the mock
 * cluster needs one for its bookkeeping; it never produces) -> create the
 * mock cluster, the requested topics and API version limits -> print the
 * bootstrap servers as the single first line of stdout -> wait for
 * SIGTERM/SIGINT/SIGHUP or EOF on stdin -> destroy the cluster and the
 * handle -> exit 0.
 *
 * Possible failure modes are: a bad flag (one-line error on stderr, exit 2);
 * the handle or the cluster cannot be created, a topic or an API version
 * limit is refused, or stdout is closed before the bootstrap line is written
 * (one-line error, exit 1). librdkafka's own log lines go to stderr.
 *
 * Stdin is watched only when it is a pipe, socket or terminal: a parent that
 * dies closes the pipe and the cluster goes with it. A background job in a
 * shell script gets /dev/null as stdin, which is at EOF from the start, so
 * /dev/null and regular files are not watched (nor anything with
 * --no-stdin).
 *
 * The mock cluster is experimental librdkafka API. In librdkafka 2.0.2 it
 * does not implement the admin APIs (CreateTopics etc.): create topics with
 * --topic, or let clients auto-create them through Metadata. --api-version
 * lowers the versions it advertises and accepts, which makes clients that
 * negotiate per API (librdkafka, kafkajs) send older request versions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll */
#endif

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_BROKERS 64
#define MAX_PARTITIONS 100000
#define MAX_TOPIC_NAME 249 /* Kafka's own limit */

struct topic_spec {
  char name[MAX_TOPIC_NAME + 1];
  int partitions;
  int replication; /* 0 = default: min(3, brokers) */
};

struct api_version_spec {
  int api_key;
  int min_version; /* -1 with max_version -1: API disabled */
  int max_version;
};

struct options {
  int brokers;       /* Default: 1 */
  int watch_stdin;   /* Default: 1 (only if stdin is a pipe/socket/tty) */
  const char* debug; /* librdkafka "debug" contexts. Default: none */
  struct topic_spec* topics;
  int topic_count;
  struct api_version_spec* api_versions; /* Default: none, librdkafka's own ranges */
  int api_version_count;
};

static volatile sig_atomic_t g_stop_signal = 0;

static void on_stop_signal(int sig) {
  g_stop_signal = sig;
}

static void usage(FILE* out) {
  fputs(
      "usage: kgw-mock-cluster [--brokers N] [--topic NAME:PARTITIONS[:REPLICATION]]...\n"
      "                        [--api-version KEY:MIN:MAX]... [--no-stdin] [--debug CONTEXTS]\n"
      "\n"
      "Starts librdkafka's mock Kafka cluster on 127.0.0.1 (random ports), prints\n"
      "its bootstrap servers as the first line of stdout, and runs until SIGTERM,\n"
      "SIGINT or EOF on stdin.\n"
      "\n"
      "  --brokers N        number of brokers, 1..64 (default 1)\n"
      "  --topic SPEC       create topic NAME with PARTITIONS partitions (1..100000)\n"
      "                     and REPLICATION replicas (default min(3, brokers));\n"
      "                     repeatable\n"
      "  --api-version SPEC advertise and accept only versions MIN..MAX of API KEY\n"
      "                     (MIN and MAX -1: API disabled); MAX must not exceed what\n"
      "                     the mock implements; repeatable\n"
      "  --no-stdin         do not exit on stdin EOF (stdin is only watched anyway\n"
      "                     when it is a pipe, socket or terminal)\n"
      "  --debug CONTEXTS   librdkafka debug contexts, e.g. mock,protocol\n"
      "  -h, --help         show this help\n",
      out);
}

/* Parses a decimal int in [lo, hi]; the whole string must be the number. */
static int parse_int(const char* s, int lo, int hi, int* out) {
  char* end = NULL;
  long v;
  if (s == NULL || *s == '\0') return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int valid_topic_name(const char* name, size_t len) {
  size_t i;
  if (len == 0 || len > MAX_TOPIC_NAME) return 0;
  if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) return 0;
  for (i = 0; i < len; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    if (!ok) return 0;
  }
  return 1;
}

/* NAME:PARTITIONS[:REPLICATION]. Returns 0 or writes a message to err. */
static int parse_topic(const char* arg, struct topic_spec* t, char* err, size_t errsz) {
  const char* colon = strchr(arg, ':');
  const char* colon2;
  char num[32];
  size_t name_len;
  if (colon == NULL) {
    snprintf(err, errsz, "--topic '%s': expected NAME:PARTITIONS[:REPLICATION]", arg);
    return -1;
  }
  name_len = (size_t)(colon - arg);
  if (!valid_topic_name(arg, name_len)) {
    snprintf(err, errsz,
             "--topic '%s': topic name must be 1..%d characters of [a-zA-Z0-9._-] "
             "and not '.' or '..'",
             arg, MAX_TOPIC_NAME);
    return -1;
  }
  memcpy(t->name, arg, name_len);
  t->name[name_len] = '\0';

  colon2 = strchr(colon + 1, ':');
  if (colon2 == NULL) {
    t->replication = 0;
    if (parse_int(colon + 1, 1, MAX_PARTITIONS, &t->partitions) != 0) {
      snprintf(err, errsz, "--topic '%s': PARTITIONS must be an integer in 1..%d", arg,
               MAX_PARTITIONS);
      return -1;
    }
    return 0;
  }
  if ((size_t)(colon2 - colon - 1) >= sizeof(num)) {
    snprintf(err, errsz, "--topic '%s': PARTITIONS must be an integer in 1..%d", arg,
             MAX_PARTITIONS);
    return -1;
  }
  memcpy(num, colon + 1, (size_t)(colon2 - colon - 1));
  num[colon2 - colon - 1] = '\0';
  if (parse_int(num, 1, MAX_PARTITIONS, &t->partitions) != 0) {
    snprintf(err, errsz, "--topic '%s': PARTITIONS must be an integer in 1..%d", arg,
             MAX_PARTITIONS);
    return -1;
  }
  if (parse_int(colon2 + 1, 1, MAX_BROKERS, &t->replication) != 0) {
    snprintf(err, errsz, "--topic '%s': REPLICATION must be an integer in 1..%d", arg, MAX_BROKERS);
    return -1;
  }
  return 0;
}

/* KEY:MIN:MAX. Returns 0 or writes a message to err. */
static int parse_api_version(const char* arg, struct api_version_spec* v, char* err, size_t errsz) {
  char buf[64];
  char* first;
  char* second;
  if (strlen(arg) >= sizeof(buf)) goto bad;
  strcpy(buf, arg);
  first = strchr(buf, ':');
  if (first == NULL) goto bad;
  *first++ = '\0';
  second = strchr(first, ':');
  if (second == NULL) goto bad;
  *second++ = '\0';
  if (parse_int(buf, 0, 32767, &v->api_key) != 0 ||
      parse_int(first, -1, 32767, &v->min_version) != 0 ||
      parse_int(second, -1, 32767, &v->max_version) != 0)
    goto bad;
  if ((v->min_version < 0) != (v->max_version < 0) || v->min_version > v->max_version) goto bad;
  return 0;
bad:
  snprintf(err, errsz,
           "--api-version '%s': expected KEY:MIN:MAX with 0 <= MIN <= MAX, or KEY:-1:-1", arg);
  return -1;
}

/* Returns 0 on success, 1 for --help, -1 on error (message in err). */
static int parse_args(int argc, char** argv, struct options* o, char* err, size_t errsz) {
  int i;
  int j;
  o->brokers = 1;
  o->watch_stdin = 1;
  o->debug = NULL;
  o->topic_count = 0;
  o->api_version_count = 0;
  o->topics = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*o->topics));
  o->api_versions = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*o->api_versions));
  if (o->topics == NULL || o->api_versions == NULL) {
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  for (i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* val = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) return 1;
    if (strcmp(a, "--no-stdin") == 0) {
      o->watch_stdin = 0;
      continue;
    }
    if (strcmp(a, "--brokers") == 0 || strcmp(a, "--topic") == 0 || strcmp(a, "--debug") == 0 ||
        strcmp(a, "--api-version") == 0) {
      if (i + 1 >= argc) {
        snprintf(err, errsz, "%s needs a value", a);
        return -1;
      }
      val = argv[++i];
    } else if (strncmp(a, "--brokers=", 10) == 0 || strncmp(a, "--topic=", 8) == 0 ||
               strncmp(a, "--debug=", 8) == 0 || strncmp(a, "--api-version=", 14) == 0) {
      val = strchr(a, '=') + 1;
    } else {
      snprintf(err, errsz, "unknown argument '%s' (see --help)", a);
      return -1;
    }
    if (strncmp(a, "--brokers", 9) == 0) {
      if (parse_int(val, 1, MAX_BROKERS, &o->brokers) != 0) {
        snprintf(err, errsz, "--brokers '%s': must be an integer in 1..%d", val, MAX_BROKERS);
        return -1;
      }
    } else if (strncmp(a, "--topic", 7) == 0) {
      struct topic_spec* t = &o->topics[o->topic_count];
      if (parse_topic(val, t, err, errsz) != 0) return -1;
      for (j = 0; j < o->topic_count; j++) {
        if (strcmp(o->topics[j].name, t->name) == 0) {
          snprintf(err, errsz, "--topic '%s': topic given twice", t->name);
          return -1;
        }
      }
      o->topic_count++;
    } else if (strncmp(a, "--api-version", 13) == 0) {
      if (parse_api_version(val, &o->api_versions[o->api_version_count], err, errsz) != 0)
        return -1;
      o->api_version_count++;
    } else {
      o->debug = val;
    }
  }
  /* Checked after all flags, since --brokers may come after --topic. */
  for (j = 0; j < o->topic_count; j++) {
    if (o->topics[j].replication > o->brokers) {
      snprintf(err, errsz, "--topic %s: replication %d exceeds --brokers %d", o->topics[j].name,
               o->topics[j].replication, o->brokers);
      return -1;
    }
  }
  return 0;
}

static void free_options(struct options* o) {
  free(o->topics);
  free(o->api_versions);
  o->topics = NULL;
  o->api_versions = NULL;
}

/* A pipe, socket or terminal on stdin means someone holds the other end. */
static int stdin_is_watchable(void) {
  struct stat st;
  if (fstat(STDIN_FILENO, &st) != 0) return 0;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO);
}

static rd_kafka_t* create_handle(const struct options* o) {
  char errstr[512];
  rd_kafka_t* rk;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  /* The handle only hosts the mock cluster: it has no bootstrap servers and
   * never produces. */
  if (rd_kafka_conf_set(conf, "client.id", "kgw-mock-cluster", errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kgw-mock-cluster: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  /* Level 5 (notice) would only say that no bootstrap.servers is set. */
  if (o->debug == NULL &&
      rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kgw-mock-cluster: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  if (o->debug != NULL &&
      rd_kafka_conf_set(conf, "debug", o->debug, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kgw-mock-cluster: --debug '%s': %s\n", o->debug, errstr);
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == NULL) {
    fprintf(stderr, "kgw-mock-cluster: cannot create librdkafka handle: %s\n", errstr);
    /* rd_kafka_new() frees conf only on success. */
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  return rk;
}

/* Blocks until a stop signal or stdin EOF. sigmask is the mask to use while
 * waiting (the stop signals unblocked); they are blocked everywhere else so
 * they cannot slip in between the flag check and the wait. */
static void wait_for_stop(int watch_stdin, const sigset_t* wait_mask) {
  char buf[4096];
  struct pollfd pfd;
  pfd.fd = STDIN_FILENO;
  pfd.events = POLLIN;
  while (!g_stop_signal) {
    int n;
    pfd.revents = 0;
    n = ppoll(watch_stdin ? &pfd : NULL, watch_stdin ? 1 : 0, NULL, wait_mask);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "kgw-mock-cluster: ppoll: %s\n", strerror(errno));
      return;
    }
    if (watch_stdin && (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
      ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
      if (r == 0) return; /* EOF: the parent is gone or closed our stdin */
      if (r < 0 && errno != EINTR && errno != EAGAIN) {
        fprintf(stderr, "kgw-mock-cluster: reading stdin: %s\n", strerror(errno));
        return;
      }
      /* Input is ignored; reading it keeps the pipe from filling up. */
    }
  }
}

int main(int argc, char** argv) {
  struct options opts;
  char err[512];
  int rc;
  int i;
  int exit_code = 0;
  sigset_t stop_set;
  sigset_t wait_mask;
  struct sigaction sa;
  rd_kafka_t* rk = NULL;
  rd_kafka_mock_cluster_t* mcluster = NULL;
  const char* bootstraps;

  rc = parse_args(argc, argv, &opts, err, sizeof(err));
  if (rc == 1) {
    usage(stdout);
    free_options(&opts);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "kgw-mock-cluster: %s\n", err);
    free_options(&opts);
    return 2;
  }
  if (opts.watch_stdin) opts.watch_stdin = stdin_is_watchable();

  /* Block the stop signals before librdkafka starts its threads (they
   * inherit the mask), so only ppoll() in the main thread takes them. */
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGTERM);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &stop_set, &wait_mask) != 0) {
    fprintf(stderr, "kgw-mock-cluster: cannot block signals\n");
    free_options(&opts);
    return 1;
  }
  sigdelset(&wait_mask, SIGTERM);
  sigdelset(&wait_mask, SIGINT);
  sigdelset(&wait_mask, SIGHUP);
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  /* A reader of our stdout that went away must not kill us mid-shutdown. */
  signal(SIGPIPE, SIG_IGN);

  rk = create_handle(&opts);
  if (rk == NULL) {
    free_options(&opts);
    return 1;
  }

  mcluster = rd_kafka_mock_cluster_new(rk, opts.brokers);
  if (mcluster == NULL) {
    fprintf(stderr, "kgw-mock-cluster: cannot create mock cluster with %d broker(s)\n",
            opts.brokers);
    exit_code = 1;
    goto out;
  }

  for (i = 0; i < opts.topic_count; i++) {
    const struct topic_spec* t = &opts.topics[i];
    int rf = t->replication > 0 ? t->replication : (opts.brokers < 3 ? opts.brokers : 3);
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mcluster, t->name, t->partitions, rf);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "kgw-mock-cluster: cannot create topic %s (%d partitions, rf %d): %s\n",
              t->name, t->partitions, rf, rd_kafka_err2str(e));
      exit_code = 1;
      goto out;
    }
  }

  for (i = 0; i < opts.api_version_count; i++) {
    const struct api_version_spec* v = &opts.api_versions[i];
    rd_kafka_resp_err_t e = rd_kafka_mock_set_apiversion(
        mcluster, (int16_t)v->api_key, (int16_t)v->min_version, (int16_t)v->max_version);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "kgw-mock-cluster: --api-version %d:%d:%d: %s\n", v->api_key, v->min_version,
              v->max_version, rd_kafka_err2str(e));
      exit_code = 1;
      goto out;
    }
  }

  bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
  if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0) {
    fprintf(stderr, "kgw-mock-cluster: cannot write bootstrap servers to stdout: %s\n",
            strerror(errno));
    exit_code = 1;
    goto out;
  }

  wait_for_stop(opts.watch_stdin, &wait_mask);

out:
  if (mcluster != NULL) rd_kafka_mock_cluster_destroy(mcluster);
  if (rk != NULL) rd_kafka_destroy(rk);
  free_options(&opts);
  return exit_code;
}

/*
 * The CNI executable: a thin client, built as a static binary so that a node needs nothing else.
 * It validates the invocation (CNI_* variables, the network configuration on stdin), answers
 * VERSION itself, and forwards every other command as one JSON line {"env":…,"config":…} over the
 * agent's unix socket, then prints the agent's answer. Behaviour, messages and error codes follow
 * runtime/cni/spec.ts and runtime/cni/protocol.ts (see docs/cni.md); test/cni/ runs against it.
 *
 * JSON: the configuration is checked by a strict RFC 8259 validator that also drops the whitespace
 * between tokens (the wire protocol is one line per request); every token is copied verbatim, so the
 * agent receives the configuration as the runtime wrote it. Only cniVersion, agentSocket and
 * timeoutSeconds are read here.
 *
 * Build: cc -static -O2 -o wasmplane-cni shim.c (runtime/cni/install.ts does this on first use).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* runtime/cni/protocol.ts MAX_REQUEST_BYTES */
#define MAX_REQUEST_BYTES (1 << 20)
/* Stdin beyond this cannot make a request the agent reads, even with all whitespace dropped. */
#define MAX_STDIN_BYTES (16 << 20)
#define MAX_ANSWER_BYTES (16 << 20)
#define MAX_DEPTH 512
#define DEFAULT_AGENT_SOCKET "/run/wasmplane/cni.sock"
#define DEFAULT_TIMEOUT_SECONDS 60.0
#define CURRENT_VERSION "1.1.0"

enum {
  E_INCOMPATIBLE_VERSION = 1,
  E_INVALID_ENVIRONMENT = 4,
  E_IO_FAILURE = 5,
  E_DECODE_FAILURE = 6,
  E_INVALID_CONFIG = 7,
  E_TRY_AGAIN_LATER = 11,
  E_NOT_AVAILABLE = 50,
};

static const char *const SUPPORTED_VERSIONS[] = {"0.4.0", "1.0.0", "1.1.0"};
#define N_SUPPORTED 3

/* ---- growable byte buffer ------------------------------------------------------------------ */

typedef struct {
  char *data;
  size_t len, cap;
} buf;

static void die_oom(void) {
  static const char msg[] = "wasmplane: out of memory\n";
  ssize_t ignored = write(2, msg, sizeof msg - 1);
  (void)ignored;
  _exit(1);
}

static void buf_reserve(buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra + 1) cap *= 2;
  char *data = realloc(b->data, cap);
  if (!data) die_oom();
  b->data = data;
  b->cap = cap;
}

static void buf_add(buf *b, const char *s, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0 when it is invalid. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (s[0] < 0x80) return *cp = s[0], 1;
  size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
  if (len == 0 || len > n || s[0] > 0xf4) return 0;
  uint32_t c = s[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
      (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

static void utf8_encode(buf *b, uint32_t c) {
  char out[4];
  size_t n;
  if (c < 0x80) out[0] = (char)c, n = 1;
  else if (c < 0x800) out[0] = (char)(0xc0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3f)), n = 2;
  else if (c < 0x10000)
    out[0] = (char)(0xe0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 0x3f)),
    out[2] = (char)(0x80 | (c & 0x3f)), n = 3;
  else
    out[0] = (char)(0xf0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 0x3f)),
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f)), out[3] = (char)(0x80 | (c & 0x3f)), n = 4;
  buf_add(b, out, n);
}

/* JavaScript's \s, which runtime/cni/spec.ts uses to refuse whitespace in names. */
static int js_space(uint32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
         c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* Appends s as a JSON string (as JSON.stringify writes it; invalid UTF-8 becomes U+FFFD, as Node reads it). */
static void json_string(buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  buf_add(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = u[i];
    uint32_t cp;
    if (c == '"' || c == '\\') buf_add(b, "\\", 1), buf_add(b, (const char *)&u[i], 1), i++;
    else if (c == '\n') buf_str(b, "\\n"), i++;
    else if (c == '\r') buf_str(b, "\\r"), i++;
    else if (c == '\t') buf_str(b, "\\t"), i++;
    else if (c == '\b') buf_str(b, "\\b"), i++;
    else if (c == '\f') buf_str(b, "\\f"), i++;
    else if (c < 0x20) buf_printf(b, "\\u%04x", c), i++;
    else {
      size_t len = utf8_decode(u + i, n - i, &cp);
      if (len == 0) buf_str(b, "\xef\xbf\xbd"), i++;
      else buf_add(b, (const char *)&u[i], len), i += len;
    }
  }
  buf_add(b, "\"", 1);
}

static void json_cstring(buf *b, const char *s) { json_string(b, s, strlen(s)); }

/* ---- a strict JSON validator that drops whitespace between tokens -------------------------- */

typedef enum { J_NONE, J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL } jtype;

/* A value's raw text in the minified output (offsets, since the output buffer may move). */
typedef struct {
  jtype type;
  size_t start, len;
} jvalue;

/* A top-level member the caller wants; the last occurrence wins, as with JSON.parse. */
typedef struct {
  const char *name;
  jvalue value;
} jfield;

typedef struct {
  const char *s;
  size_t n, pos;
  buf *out;
  jfield *fields;
  size_t nfields;
  char error[160];
} jparser;

static int jfail(jparser *p, const char *what) {
  if (p->pos >= p->n) snprintf(p->error, sizeof p->error, "%s at the end of the input", what);
  else if ((unsigned char)p->s[p->pos] >= 0x20 && (unsigned char)p->s[p->pos] < 0x7f)
    snprintf(p->error, sizeof p->error, "%s: unexpected '%c' at byte %zu", what, p->s[p->pos], p->pos);
  else snprintf(p->error, sizeof p->error, "%s: unexpected byte 0x%02x at byte %zu", what,
                (unsigned char)p->s[p->pos], p->pos);
  return 0;
}

static void jskip_space(jparser *p) {
  while (p->pos < p->n &&
         (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
    p->pos++;
}

static int jhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int jstring(jparser *p) {
  size_t start = p->pos++;
  while (p->pos < p->n) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') {
      p->pos++;
      buf_add(p->out, p->s + start, p->pos - start);
      return 1;
    }
    if (c < 0x20) return jfail(p, "control character in a string");
    if (c == '\\') {
      p->pos++;
      if (p->pos >= p->n) break;
      char e = p->s[p->pos];
      if (e == 'u') {
        for (int i = 1; i <= 4; i++)
          if (p->pos + i >= p->n || jhex(p->s[p->pos + i]) < 0) return jfail(p, "bad \\u escape");
        p->pos += 4;
      } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
        return jfail(p, "bad escape in a string");
      }
    }
    p->pos++;
  }
  return jfail(p, "unterminated string");
}

static int jdigits(jparser *p) {
  size_t start = p->pos;
  while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
  return p->pos > start;
}

static int jnumber(jparser *p) {
  size_t start = p->pos;
  if (p->s[p->pos] == '-') p->pos++;
  if (p->pos < p->n && p->s[p->pos] == '0') p->pos++;
  else if (!jdigits(p)) return jfail(p, "bad number");
  if (p->pos < p->n && p->s[p->pos] == '.') {
    p->pos++;
    if (!jdigits(p)) return jfail(p, "bad number");
  }
  if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
    p->pos++;
    if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
    if (!jdigits(p)) return jfail(p, "bad number");
  }
  buf_add(p->out, p->s + start, p->pos - start);
  return 1;
}

static int jliteral(jparser *p, const char *word) {
  size_t n = strlen(word);
  if (p->n - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return jfail(p, "not JSON");
  buf_add(p->out, word, n);
  p->pos += n;
  return 1;
}

static int jvalue_at(jparser *p, int depth, jvalue *v);

/* Decodes a JSON string token (with its quotes) into UTF-8; lone surrogates become U+FFFD. */
static void jdecode_string(const char *s, size_t n, buf *out) {
  out->len = 0;
  buf_reserve(out, n);
  for (size_t i = 1; i + 1 < n; i++) {
    if (s[i] != '\\') {
      buf_add(out, s + i, 1);
      continue;
    }
    char e = s[++i];
    const char *simple = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e);
    if (e != 'u' && simple) {
      buf_add(out, simple + 1, 1);
      continue;
    }
    uint32_t c = (uint32_t)(jhex(s[i + 1]) << 12 | jhex(s[i + 2]) << 8 | jhex(s[i + 3]) << 4 | jhex(s[i + 4]));
    i += 4;
    if (c >= 0xd800 && c <= 0xdbff && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
      uint32_t lo =
          (uint32_t)(jhex(s[i + 3]) << 12 | jhex(s[i + 4]) << 8 | jhex(s[i + 5]) << 4 | jhex(s[i + 6]));
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      }
    }
    utf8_encode(out, c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
  }
  if (out->data) out->data[out->len] = 0;
}

static void jnote_field(jparser *p, size_t key_start, size_t key_len, jvalue v) {
  buf name = {0};
  jdecode_string(p->out->data + key_start, key_len, &name);
  for (size_t i = 0; i < p->nfields; i++)
    if (strlen(p->fields[i].name) == name.len && memcmp(p->fields[i].name, name.data, name.len) == 0)
      p->fields[i].value = v;
  free(name.data);
}

static int jobject(jparser *p, int depth) {
  buf_add(p->out, "{", 1);
  p->pos++;
  jskip_space(p);
  if (p->pos < p->n && p->s[p->pos] == '}') return p->pos++, buf_add(p->out, "}", 1), 1;
  for (;;) {
    jskip_space(p);
    if (p->pos >= p->n || p->s[p->pos] != '"') return jfail(p, "expected a member name");
    size_t key_start = p->out->len;
    if (!jstring(p)) return 0;
    size_t key_len = p->out->len - key_start;
    jskip_space(p);
    if (p->pos >= p->n || p->s[p->pos] != ':') return jfail(p, "expected ':'");
    p->pos++;
    buf_add(p->out, ":", 1);
    jvalue v;
    if (!jvalue_at(p, depth + 1, &v)) return 0;
    if (depth == 0) jnote_field(p, key_start, key_len, v);
    jskip_space(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
      p->pos++;
      buf_add(p->out, ",", 1);
      continue;
    }
    if (p->pos < p->n && p->s[p->pos] == '}') return p->pos++, buf_add(p->out, "}", 1), 1;
    return jfail(p, "expected ',' or '}'");
  }
}

static int jarray(jparser *p, int depth) {
  buf_add(p->out, "[", 1);
  p->pos++;
  jskip_space(p);
  if (p->pos < p->n && p->s[p->pos] == ']') return p->pos++, buf_add(p->out, "]", 1), 1;
  for (;;) {
    jvalue v;
    if (!jvalue_at(p, depth + 1, &v)) return 0;
    jskip_space(p);
    if (p->pos < p->n && p->s[p->pos] == ',') {
      p->pos++;
      buf_add(p->out, ",", 1);
      continue;
    }
    if (p->pos < p->n && p->s[p->pos] == ']') return p->pos++, buf_add(p->out, "]", 1), 1;
    return jfail(p, "expected ',' or ']'");
  }
}

static int jvalue_at(jparser *p, int depth, jvalue *v) {
  if (depth > MAX_DEPTH) return jfail(p, "nested too deeply");
  jskip_space(p);
  if (p->pos >= p->n) return jfail(p, "expected a value");
  v->start = p->out->len;
  int ok;
  switch (p->s[p->pos]) {
  case '{': v->type = J_OBJECT, ok = jobject(p, depth); break;
  case '[': v->type = J_ARRAY, ok = jarray(p, depth); break;
  case '"': v->type = J_STRING, ok = jstring(p); break;
  case 't': v->type = J_TRUE, ok = jliteral(p, "true"); break;
  case 'f': v->type = J_FALSE, ok = jliteral(p, "false"); break;
  case 'n': v->type = J_NULL, ok = jliteral(p, "null"); break;
  default:
    if (p->s[p->pos] == '-' || (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')) v->type = J_NUMBER, ok = jnumber(p);
    else return jfail(p, "expected a value");
  }
  v->len = p->out->len - v->start;
  return ok;
}

/*
 * Validates s[0..n) as exactly one JSON value, appends it without inter-token whitespace to out,
 * and fills `fields` from the members of a top-level object. Returns the value's type, or J_NONE
 * with the reason in error.
 */
static jtype json_minify(const char *s, size_t n, buf *out, jfield *fields, size_t nfields, char *error,
                         size_t error_size) {
  jparser p = {.s = s, .n = n, .out = out, .fields = fields, .nfields = nfields};
  for (size_t i = 0; i < nfields; i++) fields[i].value.type = J_NONE;
  jvalue v;
  int ok = jvalue_at(&p, 0, &v);
  if (ok) {
    jskip_space(&p);
    if (p.pos < n) ok = jfail(&p, "text after the JSON value");
  }
  if (!ok) {
    snprintf(error, error_size, "%s", p.error);
    return J_NONE;
  }
  return v.type;
}

/* ---- the CNI side: errors, environment, config ------------------------------------------- */

typedef struct {
  int code;
  buf msg;
  /* Raw JSON of the agent's details, when it sent non-empty ones. */
  buf details_json;
} cni_error;

static int fail(cni_error *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  err->code = code;
  err->msg.len = 0;
  buf_reserve(&err->msg, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(err->msg.data, (size_t)n + 1, fmt, ap);
  va_end(ap);
  err->msg.len = (size_t)n;
  return 0;
}

static int supported_version(const char *v) {
  for (int i = 0; i < N_SUPPORTED; i++)
    if (v && strcmp(v, SUPPORTED_VERSIONS[i]) == 0) return 1;
  return 0;
}

static void print_line(const buf *b) {
  buf line = {0};
  buf_add(&line, b->data, b->len);
  buf_add(&line, "\n", 1);
  for (size_t off = 0; off < line.len;) {
    ssize_t w = write(1, line.data + off, line.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  free(line.data);
}

/* The spec's error JSON, in the config's version when it is one we speak. msg_json is raw JSON or NULL. */
static void print_error(const char *version, const cni_error *err, const char *msg_json) {
  buf out = {0};
  buf_str(&out, "{\"cniVersion\":");
  json_cstring(&out, supported_version(version) ? version : CURRENT_VERSION);
  buf_printf(&out, ",\"code\":%d,\"msg\":", err->code);
  if (msg_json) buf_str(&out, msg_json);
  else json_string(&out, err->msg.data ? err->msg.data : "", err->msg.len);
  if (err->details_json.len > 0) {
    buf_str(&out, ",\"details\":");
    buf_add(&out, err->details_json.data, err->details_json.len);
  }
  buf_str(&out, "}");
  print_line(&out);
  free(out.data);
}

static void print_version(const char *requested) {
  buf out = {0};
  buf_str(&out, "{\"cniVersion\":");
  json_cstring(&out, supported_version(requested) ? requested : CURRENT_VERSION);
  buf_str(&out, ",\"supportedVersions\":[");
  for (int i = 0; i < N_SUPPORTED; i++) {
    if (i) buf_str(&out, ",");
    json_cstring(&out, SUPPORTED_VERSIONS[i]);
  }
  buf_str(&out, "]}");
  print_line(&out);
  free(out.data);
}

static int bad_char_in_name(const char *s, int (*refused)(uint32_t)) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t len = utf8_decode(u + i, n - i, &cp);
    if (len == 0) return 1; /* not UTF-8: cannot be a name the kernel and `ip` agree on */
    if (cp < 0x20 || cp == 0x7f || js_space(cp) || refused(cp)) return 1;
    i += len;
  }
  return 0;
}

static int netns_refuses(uint32_t c) { return c == '"' || c == '\'' || c == '\\'; }
static int ifname_refuses(uint32_t c) { return c == '/' || c == ':' || c == '"' || c == '\'' || c == '\\'; }

static int check_container_id(const char *id, cni_error *err) {
  int ok = (id[0] >= 'A' && id[0] <= 'Z') || (id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9');
  for (const char *c = id + 1; ok && *c; c++)
    ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
         *c == '.' || *c == '-';
  if (ok) return 1;
  return fail(err, E_INVALID_ENVIRONMENT,
              "CNI_CONTAINERID: '%s' must start with a letter or digit and contain only letters, digits, "
              "'_', '.', '-'",
              id);
}

static int check_ifname(const char *name, cni_error *err) {
  /* Bytes, not characters: the kernel's limit (IFNAMSIZ - 1) is in bytes. */
  if (strlen(name) > 15)
    return fail(err, E_INVALID_ENVIRONMENT, "CNI_IFNAME: '%s' is longer than 15 bytes", name);
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || bad_char_in_name(name, ifname_refuses))
    return fail(err, E_INVALID_ENVIRONMENT, "CNI_IFNAME: '%s' is not a valid interface name", name);
  return 1;
}

static int check_netns(const char *path, cni_error *err) {
  if (path[0] == '/' && !bad_char_in_name(path, netns_refuses)) return 1;
  return fail(err, E_INVALID_ENVIRONMENT,
              "CNI_NETNS: '%s' must be an absolute path without whitespace, quotes or backslashes", path);
}

static const char *env_or_empty(const char *name) {
  const char *v = getenv(name);
  return v ? v : "";
}

/* CNI_ARGS "K=V;K2=V2" as a JSON object. */
static int args_json(const char *raw, buf *out, cni_error *err) {
  buf_str(out, "{");
  int first = 1;
  for (const char *pair = raw; *pair;) {
    const char *end = strchr(pair, ';');
    size_t len = end ? (size_t)(end - pair) : strlen(pair);
    if (len > 0) {
      const char *eq = memchr(pair, '=', len);
      if (!eq || eq == pair)
        return fail(err, E_INVALID_ENVIRONMENT, "CNI_ARGS: invalid pair '%.*s' (want K=V)", (int)len, pair);
      if (!first) buf_str(out, ",");
      first = 0;
      json_string(out, pair, (size_t)(eq - pair));
      buf_str(out, ":");
      json_string(out, eq + 1, len - (size_t)(eq - pair) - 1);
    }
    pair += len + (end ? 1 : 0);
  }
  buf_str(out, "}");
  return 1;
}

static const char *const COMMANDS[] = {"ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"};

/* The required variables of each command (runtime/cni/spec.ts REQUIRED_ENV). */
static const char *required_env(const char *command) {
  if (strcmp(command, "ADD") == 0 || strcmp(command, "CHECK") == 0) return "CNI_CONTAINERID CNI_NETNS CNI_IFNAME";
  if (strcmp(command, "DEL") == 0) return "CNI_CONTAINERID CNI_IFNAME";
  return "";
}

static int check_command(const char *command, cni_error *err) {
  if (command[0] == 0) return fail(err, E_INVALID_ENVIRONMENT, "CNI_COMMAND is not set");
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    if (strcmp(command, COMMANDS[i]) == 0) return 1;
  return fail(err, E_INVALID_ENVIRONMENT, "CNI_COMMAND: unknown command '%s'", command);
}

static int check_required(const char *command, cni_error *err) {
  char names[64];
  snprintf(names, sizeof names, "%s", required_env(command));
  buf missing = {0};
  for (char *save = NULL, *name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save))
    if (env_or_empty(name)[0] == 0) buf_str(&missing, missing.len ? ", " : ""), buf_str(&missing, name);
  int ok = missing.len == 0 ||
           fail(err, E_INVALID_ENVIRONMENT, "required environment variables missing for %s: %s", command,
                missing.data);
  free(missing.data);
  return ok;
}

/* Reads and checks the CNI_* variables (runtime/cni/spec.ts readEnvironment); writes the env JSON. */
static int read_environment(buf *env, const char **command_out, cni_error *err) {
  const char *command = env_or_empty("CNI_COMMAND");
  const char *id = env_or_empty("CNI_CONTAINERID");
  const char *netns = env_or_empty("CNI_NETNS");
  const char *ifname = env_or_empty("CNI_IFNAME");
  *command_out = command;
  if (!check_command(command, err) || !check_required(command, err)) return 0;
  if (id[0] && !check_container_id(id, err)) return 0;
  if (ifname[0] && !check_ifname(ifname, err)) return 0;
  if (netns[0] && !check_netns(netns, err)) return 0;
  buf_str(env, "{\"command\":");
  json_cstring(env, command);
  buf_str(env, ",\"containerId\":");
  json_cstring(env, id);
  buf_str(env, ",\"netns\":");
  json_cstring(env, netns);
  buf_str(env, ",\"ifName\":");
  json_cstring(env, ifname);
  buf_str(env, ",\"args\":");
  if (!args_json(env_or_empty("CNI_ARGS"), env, err)) return 0;
  buf_str(env, ",\"path\":");
  json_cstring(env, env_or_empty("CNI_PATH"));
  buf_str(env, "}");
  return 1;
}

/* ---- stdin and the configuration ------------------------------------------------------------ */

static int read_stdin(buf *in, cni_error *err) {
  for (;;) {
    buf_reserve(in, 65536);
    ssize_t r = read(0, in->data + in->len, in->cap - in->len - 1);
    if (r < 0 && errno == EINTR) continue;
    /* An unset stdin (a tty in non-blocking mode, a closed descriptor) reads as empty. */
    if (r < 0 && (errno == EAGAIN || errno == EBADF)) break;
    if (r < 0)
      return fail(err, E_IO_FAILURE, "reading the network configuration from stdin: %s", strerror(errno));
    if (r == 0) break;
    in->len += (size_t)r;
    if (in->len > MAX_STDIN_BYTES)
      return fail(err, E_INVALID_CONFIG,
                  "network configuration too large: more than %d bytes on stdin, the agent reads at most %d",
                  MAX_STDIN_BYTES, MAX_REQUEST_BYTES);
  }
  in->data[in->len] = 0;
  return 1;
}

enum { F_CNI_VERSION, F_AGENT_SOCKET, F_TIMEOUT, N_FIELDS };

typedef struct {
  buf minified;
  jtype type;
  char error[160];
  jfield fields[N_FIELDS];
  /* Decoded string fields; NULL when absent or not a string. */
  buf version, socket;
  int has_version, has_socket;
  double timeout_seconds;
} config;

/* A decoded string holding NUL (\u0000) must not compare equal to its prefix: NUL becomes '?'. */
static void no_nul(buf *b) {
  for (size_t i = 0; i < b->len; i++)
    if (b->data[i] == 0) b->data[i] = '?';
}

/* The decoded value of a string field; 0 when the field is absent or not a string. */
static int config_string(const config *c, int field, buf *out) {
  jvalue v = c->fields[field].value;
  if (v.type != J_STRING) return 0;
  jdecode_string(c->minified.data + v.start, v.len, out);
  no_nul(out);
  return 1;
}

static void parse_config(const buf *in, config *c) {
  c->fields[F_CNI_VERSION].name = "cniVersion";
  c->fields[F_AGENT_SOCKET].name = "agentSocket";
  c->fields[F_TIMEOUT].name = "timeoutSeconds";
  c->type = json_minify(in->data ? in->data : "", in->len, &c->minified, c->fields, N_FIELDS, c->error,
                        sizeof c->error);
  c->timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
  if (c->type != J_OBJECT) return;
  c->has_version = config_string(c, F_CNI_VERSION, &c->version);
  c->has_socket = config_string(c, F_AGENT_SOCKET, &c->socket);
  jvalue v = c->fields[F_TIMEOUT].value;
  if (v.type == J_NUMBER) {
    char number[64];
    snprintf(number, sizeof number, "%.*s", (int)v.len, c->minified.data + v.start);
    double t = strtod(number, NULL);
    if (t > 0) c->timeout_seconds = t > 86400.0 * 365 ? 86400.0 * 365 : t;
  }
}

static const char *config_version(const config *c) {
  return c->has_version ? (c->version.data ? c->version.data : "") : NULL;
}

static int whitespace_only(const buf *in) {
  for (size_t i = 0; i < in->len; i++)
    if (!strchr(" \t\n\r\v\f", in->data[i])) return 0;
  return 1;
}

static int check_object(const config *c, cni_error *err) {
  if (c->type == J_NONE)
    return fail(err, E_DECODE_FAILURE, "network configuration on stdin is not JSON: %s", c->error);
  if (c->type != J_OBJECT)
    return fail(err, E_DECODE_FAILURE, "network configuration on stdin must be a JSON object");
  return 1;
}

static int check_config(const char *command, const config *c, cni_error *err) {
  if (!check_object(c, err)) return 0;
  const char *version = config_version(c);
  if (!version || version[0] == 0)
    return fail(err, E_INVALID_CONFIG, "network configuration: field cniVersion is missing");
  if (!supported_version(version))
    return fail(err, E_INCOMPATIBLE_VERSION,
                "network configuration: cniVersion %s is not supported (supported: 0.4.0, 1.0.0, 1.1.0)", version);
  if ((strcmp(command, "STATUS") == 0 || strcmp(command, "GC") == 0) && strcmp(version, "1.1.0") != 0)
    return fail(err, E_INCOMPATIBLE_VERSION, "config version %s does not allow %s", version, command);
  return 1;
}

/* ---- the agent's socket --------------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A number as JavaScript prints it, for "no answer within N ms". */
static void js_number(char *out, size_t size, double x) {
  if (x < 1e15 && x == (double)(long long)x) snprintf(out, size, "%lld", (long long)x);
  else snprintf(out, size, "%.15g", x);
}

/* What to say when the agent cannot be reached: 50 for STATUS, 11 (try again later) otherwise. */
static int agent_down(const char *command, const char *socket, const char *reason, cni_error *err) {
  if (strcmp(command, "STATUS") == 0)
    return fail(err, E_NOT_AVAILABLE, "wasmplane agent is not reachable at %s (%s)", socket, reason);
  return fail(err, E_TRY_AGAIN_LATER, "wasmplane agent is not reachable at %s (%s); try again later", socket,
              reason);
}

static const char *errno_name(int e) {
  const char *name = strerrorname_np(e);
  return name ? name : strerror(e);
}

/* Waits for `events` on fd until the deadline; 0 on timeout. */
static int wait_for(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd pfd = {.fd = fd, .events = events};
    int r = poll(&pfd, 1, left > 2e9 ? 2000000000 : (int)left + 1);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 1; /* the next read or write reports the error */
  }
}

typedef struct {
  const char *command, *socket;
  double timeout_ms, deadline;
} call;

static int call_timeout(const call *k, cni_error *err) {
  char ms[64], reason[96];
  js_number(ms, sizeof ms, k->timeout_ms);
  snprintf(reason, sizeof reason, "no answer within %s ms", ms);
  return agent_down(k->command, k->socket, reason, err);
}

static int connect_agent(const call *k, int *fd_out, cni_error *err) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t len = strlen(k->socket);
  if (len >= sizeof addr.sun_path) return agent_down(k->command, k->socket, "ENAMETOOLONG", err);
  memcpy(addr.sun_path, k->socket, len);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return agent_down(k->command, k->socket, errno_name(errno), err);
  /* A blocking connect bounded by SO_SNDTIMEO: a unix socket with a full backlog waits in connect. */
  long long left = (long long)(k->deadline - now_ms()) + 1;
  if (left < 1) left = 1;
  struct timeval tv = {.tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int r;
  do r = connect(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    close(fd);
    if (e == EAGAIN || e == EINPROGRESS) return call_timeout(k, err);
    return agent_down(k->command, k->socket, errno_name(e), err);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  *fd_out = fd;
  return 1;
}

static int send_all(int fd, const call *k, const buf *line, cni_error *err) {
  for (size_t off = 0; off < line->len;) {
    ssize_t w = send(fd, line->data + off, line->len - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) return agent_down(k->command, k->socket, errno_name(errno), err);
    if (!wait_for(fd, POLLOUT, k->deadline)) return call_timeout(k, err);
  }
  return 1;
}

/* Reads up to the first newline; the answer is that line. */
static int read_line(int fd, const call *k, buf *answer, cni_error *err) {
  for (;;) {
    buf_reserve(answer, 65536);
    ssize_t r = recv(fd, answer->data + answer->len, answer->cap - answer->len - 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) {
      if (!wait_for(fd, POLLIN, k->deadline)) return call_timeout(k, err);
      continue;
    }
    if (r < 0) return agent_down(k->command, k->socket, errno_name(errno), err);
    if (r == 0) return agent_down(k->command, k->socket, "connection closed before an answer", err);
    char *nl = memchr(answer->data + answer->len, '\n', (size_t)r);
    answer->len += (size_t)r;
    if (nl) {
      answer->len = (size_t)(nl - answer->data);
      answer->data[answer->len] = 0;
      return 1;
    }
    if (answer->len > MAX_ANSWER_BYTES)
      return fail(err, E_DECODE_FAILURE, "agent answered with more than %d bytes without a newline",
                  MAX_ANSWER_BYTES);
  }
}

/* Sends the request line, returns the agent's answer line. */
static int forward(const call *k, const buf *request, buf *answer, cni_error *err) {
  int fd = -1;
  if (!connect_agent(k, &fd, err)) return 0;
  int ok = send_all(fd, k, request, err) && read_line(fd, k, answer, err);
  close(fd);
  return ok;
}

/* ---- the agent's answer --------------------------------------------------------------------- */

enum { A_OK, A_OUTPUT, A_ERROR, N_ANSWER };
enum { R_CODE, R_MSG, R_DETAILS, N_REFUSAL };

static int truthy(const char *raw, const jvalue *v) {
  if (v->type == J_NONE || v->type == J_NULL || v->type == J_FALSE) return 0;
  if (v->type == J_STRING) return v->len > 2;
  if (v->type == J_NUMBER) return strtod(raw + v->start, NULL) != 0;
  return 1;
}

/* Prints the agent's refusal as the spec's error result; the agent's msg and details are copied verbatim. */
static int print_refusal(const char *version, const buf *answer, jvalue error) {
  jfield f[N_REFUSAL] = {{.name = "code"}, {.name = "msg"}, {.name = "details"}};
  buf refusal = {0};
  char why[160];
  cni_error err = {0};
  if (error.type != J_OBJECT ||
      json_minify(answer->data + error.start, error.len, &refusal, f, N_REFUSAL, why, sizeof why) != J_OBJECT) {
    fail(&err, E_DECODE_FAILURE, "agent answered with an error that is not an object");
    print_error(version, &err, NULL);
    return 1;
  }
  err.code = f[R_CODE].value.type == J_NUMBER ? atoi(refusal.data + f[R_CODE].value.start) : E_IO_FAILURE;
  if (truthy(refusal.data, &f[R_DETAILS].value))
    buf_add(&err.details_json, refusal.data + f[R_DETAILS].value.start, f[R_DETAILS].value.len);
  buf msg = {0};
  if (f[R_MSG].value.type == J_STRING) buf_add(&msg, refusal.data + f[R_MSG].value.start, f[R_MSG].value.len);
  else buf_str(&msg, "\"\"");
  print_error(version, &err, msg.data);
  free(msg.data);
  free(refusal.data);
  return 1;
}

/* Prints what the agent said; returns the exit status. */
static int print_answer(const char *version, const buf *line) {
  jfield f[N_ANSWER] = {{.name = "ok"}, {.name = "output"}, {.name = "error"}};
  buf answer = {0};
  char why[160];
  cni_error err = {0};
  jtype type = json_minify(line->data, line->len, &answer, f, N_ANSWER, why, sizeof why);
  if (type == J_NONE) {
    fail(&err, E_DECODE_FAILURE, "agent answered with invalid JSON: %s", why);
    print_error(version, &err, NULL);
    return 1;
  }
  if (type != J_OBJECT) {
    fail(&err, E_IO_FAILURE, "agent answered with a JSON value that is not an object");
    print_error(version, &err, NULL);
    return 1;
  }
  if (!truthy(answer.data, &f[A_OK].value)) return print_refusal(version, &answer, f[A_ERROR].value);
  if (truthy(answer.data, &f[A_OUTPUT].value)) {
    buf output = {0};
    buf_add(&output, answer.data + f[A_OUTPUT].value.start, f[A_OUTPUT].value.len);
    print_line(&output);
    free(output.data);
  }
  free(answer.data);
  return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

/* Builds the request line {"env":…,"config":…}\n, refusing one the agent would not read. */
static int build_request(const buf *env, const config *c, buf *request, cni_error *err) {
  buf_str(request, "{\"env\":");
  buf_add(request, env->data, env->len);
  buf_str(request, ",\"config\":");
  buf_add(request, c->minified.data, c->minified.len);
  buf_str(request, "}");
  if (request->len > MAX_REQUEST_BYTES)
    return fail(err, E_INVALID_CONFIG,
                "network configuration too large: the request is %zu bytes, the agent reads at most %d",
                request->len, MAX_REQUEST_BYTES);
  buf_str(request, "\n");
  return 1;
}

static int run(config *c, cni_error *err, const char **version) {
  buf in = {0}, env = {0}, request = {0}, answer = {0};
  const char *command = "";
  /* stdin first, so that even an error in the environment is answered in the config's version. */
  if (!read_stdin(&in, err)) return 1;
  parse_config(&in, c);
  *version = config_version(c);
  if (!read_environment(&env, &command, err)) return 1;
  if (strcmp(command, "VERSION") == 0) {
    /* Some callers send nothing for VERSION; answer with our current version then. */
    if (whitespace_only(&in)) return print_version(NULL), 0;
    if (!check_object(c, err)) return 1;
    return print_version(config_version(c)), 0;
  }
  if (!check_config(command, c, err) || !build_request(&env, c, &request, err)) return 1;
  const char *socket = c->has_socket ? (c->socket.data ? c->socket.data : "") : DEFAULT_AGENT_SOCKET;
  call k = {.command = command, .socket = socket, .timeout_ms = c->timeout_seconds * 1000};
  k.deadline = now_ms() + k.timeout_ms;
  if (!forward(&k, &request, &answer, err)) return 1;
  return print_answer(*version, &answer) == 0 ? 0 : -1;
}

int main(void) {
  config c = {0};
  cni_error err = {0};
  const char *version = NULL;
  int status = run(&c, &err, &version);
  /* -1: the answer (an error result) was printed already. */
  if (status == 1) print_error(version, &err, NULL);
  return status == 0 ? 0 : 1;
}

// A round-robin LB plugin in C, built with Debian's clang and lld (see build.sh): no libc, no SDK,
// nothing but numbers and bytes in linear memory. It imports the host's capped env.memory and uses a
// bump allocator that restarts at every wasmplane_alloc (the host frees a call's input and output
// before the next alloc, docs/plugin-abi.md §1). Every answer is "round-robin over every endpoint"
// (flag 1), so it reads nothing but the endpoint count: its manifest says "reads": [].

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define EXPORT(name) __attribute__((export_name(#name))) name

// The manifest travels in the custom section wasmplane.manifest, so the module's sha256 covers it.
// clang emits a section named .custom_section.<name> as the custom section <name>.
__asm__(
    ".section .custom_section.wasmplane.manifest,\"\",@\n"
    ".ascii \"{\\\"name\\\":\\\"c-round-robin\\\",\\\"version\\\":\\\"1.0.0\\\",\\\"kind\\\":\\\"lb\\\",\"\n"
    ".ascii \"\\\"abi\\\":1,\\\"capabilities\\\":[],\\\"reads\\\":[],\"\n"
    ".ascii \"\\\"description\\\":\\\"round-robin over all endpoints, in C\\\"}\"\n"
    ".text\n");

#ifdef WASMPLANE_V1_GLOBAL_MARKER
// The ABI 1 marker, for the admission test only: clang exports this global's ADDRESS, not 1.
const int wasmplane_abi = 1;
#else
// The ABI 1.1 marker: a function whose body is the constant version.
int EXPORT(wasmplane_abi_version)(void) { return 1; }
#endif

enum { ABI = 1, KIND_LB = 1, STATUS_OK = 0, STATUS_BATCH_ERROR = 1 };
// Op word, second byte: request fields the host left out of every item.
enum { NO_KEY = 1, NO_ZONE = 2, NO_PARAMS = 4, NO_ADDR = 8, NO_PORT = 16, NO_WEIGHT = 32, NO_EP_ZONE = 64, NO_EP_NODE = 128 };

extern u8 __heap_base;
static u32 heap;

static u32 load32(u32 p) { return *(u32 *)p; }
static u32 load16(u32 p) { return *(u16 *)p; }
static void store32(u32 p, u32 v) { *(u32 *)p = v; }
static void store16(u32 p, u32 v) { *(u16 *)p = (u16)v; }
static void store8(u32 p, u32 v) { *(u8 *)p = (u8)v; }

// Returns n bytes at a 4-aligned address, growing memory; 0 when memory cannot grow.
static u32 bump(u32 n) {
  u32 p = (heap + 3) & ~3u;
  u32 end = p + n;
  u32 have = (u32)__builtin_wasm_memory_size(0) << 16;
  if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) >> 16) == (unsigned long)-1) return 0;
  heap = end;
  return p;
}

u32 EXPORT(wasmplane_alloc)(u32 len) {
  heap = (u32)&__heap_base;
  return bump(len);
}

void EXPORT(wasmplane_free)(u32 ptr) { (void)ptr; }

// Skips a u16-length-prefixed string at *p; 0 when it runs past end.
static int skip_str(u32 *p, u32 end) {
  if (*p + 2 > end) return 0;
  u32 len = load16(*p);
  if (*p + 2 + len > end) return 0;
  *p += 2 + len;
  return 1;
}

// Turns the output at out into a batch error whose message is "bad request".
static u32 batch_error(u32 out) {
  static const char msg[] = "bad request";
  u32 n = sizeof(msg) - 1;
  heap = out + 16;
  u32 w = bump(2 + n);
  if (!w) __builtin_trap();
  store16(w, n);
  for (u32 i = 0; i < n; i++) store8(w + 2 + i, (u8)msg[i]);
  store32(out, heap - out);
  store32(out + 4, ABI);
  store32(out + 8, STATUS_BATCH_ERROR);
  store32(out + 12, 0);
  return out;
}

// Reads one request item at *p; returns its endpoint count, or -1 when it is truncated.
static int read_item(u32 *p, u32 end, u32 omitted) {
  if (!(omitted & NO_KEY) && !skip_str(p, end)) return -1;
  if (!(omitted & NO_ZONE) && !skip_str(p, end)) return -1;
  if (!(omitted & NO_PARAMS)) {
    if (*p + 2 > end) return -1;
    u32 params = load16(*p);
    *p += 2;
    for (u32 i = 0; i < params; i++)
      if (!skip_str(p, end) || !skip_str(p, end)) return -1;
  }
  if (*p + 4 > end) return -1;
  u32 count = load32(*p);
  *p += 4;
  if (count > 65535) return -1;
  for (u32 i = 0; i < count; i++) {
    if (!(omitted & NO_ADDR) && !skip_str(p, end)) return -1;
    if (!(omitted & NO_PORT)) *p += 2;
    if (!(omitted & NO_WEIGHT)) *p += 4;
    if (*p > end) return -1;
    if (!(omitted & NO_EP_ZONE) && !skip_str(p, end)) return -1;
    if (!(omitted & NO_EP_NODE) && !skip_str(p, end)) return -1;
  }
  return (int)count;
}

u32 EXPORT(wasmplane_call)(u32 in, u32 len) {
  u32 out = bump(16);
  if (!out) __builtin_trap();
  if (len < 16 || load32(in) != ABI || load32(in + 4) != KIND_LB || (load32(in + 8) & 0xff) != 0)
    return batch_error(out);
  u32 omitted = (load32(in + 8) >> 8) & 0xff;
  u32 count = load32(in + 12);
  u32 p = in + 16, end = in + len;
  for (u32 i = 0; i < count; i++) {
    int endpoints = read_item(&p, end, omitted);
    if (endpoints < 0) return batch_error(out);
    u32 a = bump(12);
    if (!a) __builtin_trap();
    store8(a, STATUS_OK);
    store8(a + 1, 1);  // mode: round-robin
    store8(a + 2, 0);  // hash fields: none
    store8(a + 3, endpoints > 0 ? 1 : 0);  // flag 1: every endpoint, in order
    store32(a + 4, 0);  // seed
    store32(a + 8, (u32)endpoints);  // slot count: 0 exactly when there are no endpoints
  }
  if (p != end) return batch_error(out);
  store32(out, heap - out);
  store32(out + 4, ABI);
  store32(out + 8, STATUS_OK);
  store32(out + 12, count);
  return out;
}

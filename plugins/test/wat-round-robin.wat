;; A round-robin LB plugin written by hand in WebAssembly text, without the SDK: it shows that ABI v1
;; needs nothing but numbers and bytes in linear memory. It defines its own memory with a maximum
;; (16 MiB) and uses a bump allocator (4-byte aligned; every output record is a multiple of 4 bytes, so
;; the output is contiguous) that restarts at every wasmplane_alloc, which is safe because
;; the host frees a call's input and output before it allocates the next input.
;; Its manifest is the sidecar file wat-round-robin.manifest.json.
(module
  (memory (export "memory") 2 256)
  (global (export "wasmplane_abi") i32 (i32.const 1))
  (global $heapBase i32 (i32.const 1024))
  (global $heap (mut i32) (i32.const 1024))

  ;; Makes sure bytes [0, end) exist, growing memory; traps when the maximum is reached.
  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then unreachable)))))

  (func $bump (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 3)) (i32.const -4)))
    (call $ensure (i32.add (local.get $p) (local.get $n)))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p))

  (func (export "wasmplane_alloc") (param $n i32) (result i32)
    (global.set $heap (global.get $heapBase))
    (call $bump (local.get $n)))

  (func (export "wasmplane_free") (param $p i32))

  ;; Skips a u16-length-prefixed string starting at $p.
  (func $skipStr (param $p i32) (result i32)
    (i32.add (i32.add (local.get $p) (i32.const 2)) (i32.load16_u (local.get $p))))

  ;; Turns the output at $out into a batch error with the 3-letter message "bad".
  (func $batchError (param $out i32) (result i32)
    (local $w i32)
    (global.set $heap (i32.add (local.get $out) (i32.const 16)))
    (local.set $w (call $bump (i32.const 5)))
    (i32.store16 (local.get $w) (i32.const 3))
    (i32.store8 offset=2 (local.get $w) (i32.const 98))
    (i32.store8 offset=3 (local.get $w) (i32.const 97))
    (i32.store8 offset=4 (local.get $w) (i32.const 100))
    (i32.store offset=8 (local.get $out) (i32.const 1))
    (i32.store (local.get $out) (i32.sub (global.get $heap) (local.get $out)))
    (local.get $out))

  (func (export "wasmplane_call") (param $in i32) (param $len i32) (result i32)
    (local $p i32) (local $count i32) (local $item i32) (local $out i32) (local $w i32)
    (local $params i32) (local $n i32) (local $i i32) (local $end i32)
    (local.set $end (i32.add (local.get $in) (local.get $len)))
    (local.set $out (call $bump (i32.const 16)))
    (local.set $count (i32.load offset=12 (local.get $in)))
    (i32.store offset=4 (local.get $out) (i32.const 1))
    (i32.store offset=8 (local.get $out) (i32.const 0))
    (i32.store offset=12 (local.get $out) (local.get $count))
    ;; ABI 1, kind 1 (lb), and a header that fits
    (if (i32.or (i32.lt_u (local.get $len) (i32.const 16))
          (i32.or (i32.ne (i32.load (local.get $in)) (i32.const 1))
                  (i32.ne (i32.load offset=4 (local.get $in)) (i32.const 1))))
      (then (return (call $batchError (local.get $out)))))
    (local.set $p (i32.add (local.get $in) (i32.const 16)))
    (block $done
      (loop $items
        (br_if $done (i32.ge_u (local.get $item) (local.get $count)))
        ;; the smallest item is 8 bytes (two empty strings, no params, no endpoints)
        (if (i32.gt_u (i32.add (local.get $p) (i32.const 8)) (local.get $end))
          (then (return (call $batchError (local.get $out)))))
        (local.set $p (call $skipStr (local.get $p)))
        (local.set $p (call $skipStr (local.get $p)))
        (local.set $params (i32.load16_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (block $pdone
          (loop $ploop
            (br_if $pdone (i32.eqz (local.get $params)))
            (local.set $p (call $skipStr (call $skipStr (local.get $p))))
            (local.set $params (i32.sub (local.get $params) (i32.const 1)))
            (br $ploop)))
        (local.set $n (i32.load (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $i (i32.const 0))
        (block $edone
          (loop $eloop
            (br_if $edone (i32.ge_u (local.get $i) (local.get $n)))
            (if (i32.gt_u (local.get $p) (local.get $end))
              (then (return (call $batchError (local.get $out)))))
            (local.set $p (call $skipStr (local.get $p)))
            (local.set $p (i32.add (local.get $p) (i32.const 6)))
            (local.set $p (call $skipStr (call $skipStr (local.get $p))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $eloop)))
        (if (i32.gt_u (local.get $p) (local.get $end))
          (then (return (call $batchError (local.get $out)))))
        ;; item: status 0, mode 1 (round-robin), fields 0, reserved 0, seed 0, n slots 0..n-1
        (local.set $w (call $bump (i32.add (i32.const 12) (i32.shl (local.get $n) (i32.const 2)))))
        (i32.store (local.get $w) (i32.const 0x100))
        (i32.store offset=4 (local.get $w) (i32.const 0))
        (i32.store offset=8 (local.get $w) (local.get $n))
        (local.set $i (i32.const 0))
        (block $sdone
          (loop $sloop
            (br_if $sdone (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store offset=12
              (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 2)))
              (local.get $i))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $sloop)))
        (local.set $item (i32.add (local.get $item) (i32.const 1)))
        (br $items)))
    (i32.store (local.get $out) (i32.sub (global.get $heap) (local.get $out)))
    (local.get $out))
)

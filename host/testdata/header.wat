;; A hand-written plugin that answers authorize from the event header, read
;; either way ABI.md allows: written by the host into memory the plugin
;; declared with declare_header (config "P"), or pulled with event_get
;; (config "L"). Config "B" and "Z" declare an address outside memory and the
;; null address, and refuse their config with declare_header's status.
;;
;; authorize returns ALLOW with the header's topic_len as reason code and its
;; qos as MAX_QOS, so a test sees exactly which header the plugin read.
(module
  (import "plume" "declare" (func $declare (param i32) (result i32)))
  (import "plume" "declare_header" (func $declare_header (param i32) (result i32)))
  (import "plume" "config_get" (func $config_get (param i32 i32) (result i32)))
  (import "plume" "event_get" (func $event_get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $pushed (mut i32) (i32.const 0))
  (func (export "plume_abi_version") (result i32) (i32.const 1))
  (func (export "plume_init") (param $config_len i32) (result i32)
    (local $mode i32)
    (local $status i32)
    (drop (call $declare (i32.const 2))) ;; authorize
    (drop (call $config_get (i32.const 0x100) (i32.const 16)))
    (local.set $mode (i32.load8_u (i32.const 0x100)))
    (if (i32.eq (local.get $mode) (i32.const 0x4c)) (then (return (i32.const 0)))) ;; "L": pull
    (local.set $status
      (call $declare_header
        (if (result i32) (i32.eq (local.get $mode) (i32.const 0x50)) ;; "P"
          (then (i32.const 0x200))
          (else (if (result i32) (i32.eq (local.get $mode) (i32.const 0x42)) ;; "B"
            (then (i32.const 0xfff0)) ;; 16 bytes short of a 32-byte header
            (else (i32.const 0)))))))
    (global.set $pushed (i32.eqz (local.get $status)))
    (local.get $status))
  (func (export "plume_authorize") (result i64)
    (if (i32.eqz (global.get $pushed))
      (then (drop (call $event_get (i32.const 0) (i32.const 0x200) (i32.const 32)))))
    ;; ALLOW | topic_len << 8 | MAX_QOS << 16 | qos << 24
    (i64.or
      (i64.or (i64.const 0x10001)
        (i64.shl (i64.extend_i32_u (i32.load8_u (i32.const 0x210))) (i64.const 8)))
      (i64.shl (i64.extend_i32_u (i32.load8_u (i32.const 0x203))) (i64.const 24)))))

;; deny-all: the chain's closing "no". Every CONNECT and every PUBLISH and
;; SUBSCRIBE that reaches it is denied with 0x87 Not authorized, so a chain
;; that ends with it admits only what an earlier plugin allowed, whatever
;; allow_anonymous says. Built into plume (plugins/builtin); ABI v1
;; (plugin-sdk/ABI.md). Rebuild: make builtins (plugins/builtin/README.md).
(module
  (import "plume" "declare" (func $declare (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "plume_abi_version") (result i32) (i32.const 1))
  (func (export "plume_init") (param $config_len i32) (result i32)
    ;; bit 0 authenticate, bit 1 authorize
    (drop (call $declare (i32.const 3)))
    (i32.const 0))
  ;; outcome 2 = DENY, reason 0 = the default (0x87)
  (func (export "plume_authenticate") (result i64) (i64.const 2))
  ;; DENY, with flag bit 1 (CACHE, bit 17): the answer never changes for
  ;; this client and topic, so the broker need not ask again.
  (func (export "plume_authorize") (result i64) (i64.const 0x20002)))

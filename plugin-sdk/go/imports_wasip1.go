//go:build wasip1

package plume

import "unsafe"

// The host functions of ABI v1, module "plume". Pointers are offsets into the
// guest's linear memory; the host writes only within [buf, buf+limit) and only
// during the call.

//go:wasmimport plume event_get
func hostEventGet(field uint32, buf unsafe.Pointer, limit uint32) int32

//go:wasmimport plume attr_get
func hostAttrGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, limit uint32) int32

//go:wasmimport plume result_set
func hostResultSet(field uint32, ptr unsafe.Pointer, n uint32) int32

//go:wasmimport plume config_get
func hostConfigGet(buf unsafe.Pointer, limit uint32) int32

//go:wasmimport plume declare
func hostDeclare(points uint32) int32

//go:wasmimport plume declare_header
func hostDeclareHeader(buf unsafe.Pointer) int32

//go:wasmimport plume declare_payload
func hostDeclarePayload(buf unsafe.Pointer, n uint32) int32

//go:wasmimport plume declare_filter
func hostDeclareFilter(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport plume log
func hostLog(level uint32, ptr unsafe.Pointer, n uint32)

//go:wasmimport plume kv_get
func hostKVGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, limit uint32) int32

//go:wasmimport plume kv_set
func hostKVSet(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) int32

//go:wasmimport plume kv_delete
func hostKVDelete(key unsafe.Pointer, keyLen uint32) int32

//go:wasmimport plume kv_add
func hostKVAdd(key unsafe.Pointer, keyLen uint32, delta int64) int64

//go:wasmimport plume client_state_get
func hostClientStateGet(buf unsafe.Pointer, limit uint32) int32

//go:wasmimport plume client_state_set
func hostClientStateSet(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport plume now
func hostNow() int64

//go:wasmimport plume random
func hostRandom(buf unsafe.Pointer, n uint32) int32

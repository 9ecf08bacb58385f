package host

import (
	"crypto/rand"
	"time"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero/api"
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one import of module "plume". fn reads its parameters from
// stack and leaves its result in stack[0], as wazero's stack-based host
// functions do; each engine adapts that to its own calling convention.
type hostFunc struct {
	name            string
	fn              func(inst *instance, mem guestMemory, stack []uint64)
	params, results []api.ValueType
}

// hostFuncs are the capabilities of ABI v1.
var hostFuncs = []hostFunc{
	{"event_get", eventGet, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	{"attr_get", attrGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	{"result_set", resultSet, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}},
	{"config_get", configGet, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"declare", declare, []api.ValueType{i32}, []api.ValueType{i32}},
	{"declare_filter", declareFilter, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"declare_header", declareHeader, []api.ValueType{i32}, []api.ValueType{i32}},
	{"declare_payload", declarePayload, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"log", logFn, []api.ValueType{i32, i32, i32}, nil},
	{"kv_get", kvGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	{"kv_set", kvSet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	{"kv_delete", kvDelete, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"kv_add", kvAdd, []api.ValueType{i32, i32, i64}, []api.ValueType{i64}},
	{"client_state_get", clientStateGet, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"client_state_set", clientStateSet, []api.ValueType{i32, i32}, []api.ValueType{i32}},
	{"now", now, nil, []api.ValueType{i64}},
	{"random", random, []api.ValueType{i32, i32}, []api.ValueType{i32}},
}

func hostFuncNames() map[string]bool {
	m := make(map[string]bool, len(hostFuncs))
	for _, f := range hostFuncs {
		m[f.name] = true
	}
	return m
}

func status(s int32) uint64 { return uint64(uint32(s)) }

// put answers a pull: it writes v at buf when it fits in limit and returns
// v's full length either way, so the guest can retry with a larger buffer.
func put(mem guestMemory, buf, limit uint32, v []byte) uint64 {
	if len(v) <= int(limit) && len(v) > 0 && !mem.Write(buf, v) {
		return status(statusBadMemory)
	}
	return uint64(len(v))
}

func putString(mem guestMemory, buf, limit uint32, v string) uint64 {
	if len(v) <= int(limit) && len(v) > 0 && !mem.WriteString(buf, v) {
		return status(statusBadMemory)
	}
	return uint64(len(v))
}

// read returns a view of guest memory; copy it before the call returns.
func read(mem guestMemory, ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	return mem.Read(ptr, n)
}

func eventGet(inst *instance, mem guestMemory, stack []uint64) {
	field, buf, limit := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	stack[0] = inst.c.get(mem, field, buf, limit)
}

func attrGet(inst *instance, mem guestMemory, stack []uint64) {
	key, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	switch {
	case !ok:
		stack[0] = status(statusBadMemory)
	case inst.c.client == nil:
		stack[0] = status(statusBadField)
	default:
		v, found := inst.c.client.Attributes[string(key)]
		if !found {
			stack[0] = status(statusAbsent)
			return
		}
		stack[0] = putString(mem, uint32(stack[2]), uint32(stack[3]), v)
	}
}

func resultSet(inst *instance, mem guestMemory, stack []uint64) {
	field, ptr, n := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	stack[0] = status(inst.c.set(mem, field, ptr, n))
}

func configGet(inst *instance, mem guestMemory, stack []uint64) {
	stack[0] = put(mem, uint32(stack[0]), uint32(stack[1]), inst.m.cfg.Config)
}

func declare(inst *instance, mem guestMemory, stack []uint64) {
	if !inst.c.init {
		stack[0] = status(statusWrongPhase)
		return
	}
	inst.c.declared, inst.c.hasDeclared = uint32(stack[0]), true
	stack[0] = statusOK
}

// declareHeader records where in the guest's memory the host writes each
// call's event header, saving the guest an event_get per call.
func declareHeader(inst *instance, mem guestMemory, stack []uint64) {
	ptr := uint32(stack[0])
	if stack[0] = status(declaredRegion(inst, mem, ptr, headerSize)); stack[0] == statusOK {
		inst.c.headerAt = ptr
	}
}

// declarePayload records a buffer of the guest's into which the host writes
// the payload of on_publish and transform calls when it fits, saving the
// guest an event_get, and from which a transform may return its new payload
// without a result_set.
func declarePayload(inst *instance, mem guestMemory, stack []uint64) {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if stack[0] = status(declaredRegion(inst, mem, ptr, n)); stack[0] == statusOK {
		inst.c.payloadAt, inst.c.payloadCap = ptr, n
	}
}

// declaredRegion checks a region a guest hands the host to keep: during init
// only, not at address 0 (a null pointer), not empty, inside memory. Linear
// memory never shrinks, so a region inside it now stays inside.
func declaredRegion(inst *instance, mem guestMemory, ptr, n uint32) int32 {
	switch {
	case !inst.c.init:
		return statusWrongPhase
	case ptr == 0 || n == 0:
		return statusBadMemory
	}
	if _, ok := mem.Read(ptr, n); !ok {
		return statusBadMemory
	}
	return statusOK
}

func declareFilter(inst *instance, mem guestMemory, stack []uint64) {
	b, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	switch {
	case !ok:
		stack[0] = status(statusBadMemory)
	case !inst.c.init:
		stack[0] = status(statusWrongPhase)
	default:
		f, err := parseFilter(string(b))
		if err != nil {
			stack[0] = status(statusBadEncoding)
			return
		}
		inst.c.filters = append(inst.c.filters, f)
		stack[0] = statusOK
	}
}

func logFn(inst *instance, mem guestMemory, stack []uint64) {
	msg, ok := read(mem, uint32(stack[1]), uint32(stack[2]))
	if !ok {
		return
	}
	lvl := zerolog.InfoLevel
	switch stack[0] {
	case levelDebug:
		lvl = zerolog.DebugLevel
	case levelWarn:
		lvl = zerolog.WarnLevel
	case levelError:
		lvl = zerolog.ErrorLevel
	}
	ev := inst.m.lineEvent(lvl, lvl.String())
	if ev == nil {
		return // held back, and counted
	}
	if c := inst.c.client; c != nil {
		ev = ev.Str("client_id", c.ID).Str("remote", c.RemoteAddr)
	}
	ev.Msg(string(msg))
}

func kvGet(inst *instance, mem guestMemory, stack []uint64) {
	key, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	if !ok {
		stack[0] = status(statusBadMemory)
		return
	}
	v, found := inst.m.shared.get(string(key))
	if !found {
		stack[0] = status(statusAbsent)
		return
	}
	stack[0] = put(mem, uint32(stack[2]), uint32(stack[3]), v)
}

func kvSet(inst *instance, mem guestMemory, stack []uint64) {
	key, ok1 := read(mem, uint32(stack[0]), uint32(stack[1]))
	val, ok2 := read(mem, uint32(stack[2]), uint32(stack[3]))
	switch {
	case !ok1 || !ok2:
		stack[0] = status(statusBadMemory)
	case len(key) > maxKeyLen || len(val) > maxValueLen:
		stack[0] = status(statusTooLarge)
	case !inst.m.shared.set(string(key), append([]byte(nil), val...)):
		stack[0] = status(statusTooLarge)
	default:
		stack[0] = statusOK
	}
}

func kvDelete(inst *instance, mem guestMemory, stack []uint64) {
	key, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	switch {
	case !ok:
		stack[0] = status(statusBadMemory)
	case !inst.m.shared.delete(string(key)):
		stack[0] = status(statusAbsent)
	default:
		stack[0] = statusOK
	}
}

// kvAdd answers the new value; a refused add (bad memory, store full)
// answers 0 and is logged, since every i64 is a valid counter value.
func kvAdd(inst *instance, mem guestMemory, stack []uint64) {
	key, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	if !ok || len(key) > maxKeyLen {
		inst.m.trapEvent("kv_add bad key").Msg("kv_add refused: bad key")
		stack[0] = 0
		return
	}
	n, ok := inst.m.shared.add(string(key), int64(stack[2]))
	if !ok {
		inst.m.trapEvent("kv_add store full").Msg("kv_add refused: the store is full (entries or kv_max_bytes)")
	}
	stack[0] = uint64(n)
}

func clientStateGet(inst *instance, mem guestMemory, stack []uint64) {
	e := inst.c.clientEntry()
	if e == nil {
		stack[0] = status(statusBadField)
		return
	}
	e.mu.Lock()
	v := e.state
	e.mu.Unlock()
	if v == nil {
		stack[0] = status(statusAbsent)
		return
	}
	stack[0] = put(mem, uint32(stack[0]), uint32(stack[1]), v)
}

func clientStateSet(inst *instance, mem guestMemory, stack []uint64) {
	e := inst.c.clientEntry()
	v, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	switch {
	case e == nil:
		stack[0] = status(statusBadField)
	case !ok:
		stack[0] = status(statusBadMemory)
	case len(v) > maxClientData:
		stack[0] = status(statusTooLarge)
	default:
		cp := append(make([]byte, 0, len(v)), v...)
		e.mu.Lock()
		e.state = cp
		e.mu.Unlock()
		stack[0] = statusOK
	}
}

func now(_ *instance, _ guestMemory, stack []uint64) {
	stack[0] = uint64(time.Now().UnixNano())
}

func random(_ *instance, mem guestMemory, stack []uint64) {
	b, ok := read(mem, uint32(stack[0]), uint32(stack[1]))
	if !ok {
		stack[0] = status(statusBadMemory)
		return
	}
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	stack[0] = statusOK
}

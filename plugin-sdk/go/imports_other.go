//go:build !wasip1

package plume

import "unsafe"

// Outside wasip1 there is no host: every host function reports the field
// absent, so the package builds (for go vet and go doc) on any platform.

func hostEventGet(uint32, unsafe.Pointer, uint32) int32                { return statusAbsent }
func hostAttrGet(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int32 { return statusAbsent }
func hostResultSet(uint32, unsafe.Pointer, uint32) int32               { return statusWrongPhase }
func hostConfigGet(unsafe.Pointer, uint32) int32                       { return 0 }
func hostDeclare(uint32) int32                                         { return statusWrongPhase }
func hostDeclareFilter(unsafe.Pointer, uint32) int32                   { return statusWrongPhase }
func hostDeclareHeader(unsafe.Pointer) int32                           { return statusWrongPhase }
func hostDeclarePayload(unsafe.Pointer, uint32) int32                  { return statusWrongPhase }
func hostLog(uint32, unsafe.Pointer, uint32)                           {}
func hostKVGet(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int32   { return statusAbsent }
func hostKVSet(unsafe.Pointer, uint32, unsafe.Pointer, uint32) int32   { return statusWrongPhase }
func hostKVDelete(unsafe.Pointer, uint32) int32                        { return statusAbsent }
func hostKVAdd(unsafe.Pointer, uint32, int64) int64                    { return 0 }
func hostClientStateGet(unsafe.Pointer, uint32) int32                  { return statusAbsent }
func hostClientStateSet(unsafe.Pointer, uint32) int32                  { return statusWrongPhase }
func hostNow() int64                                                   { return 0 }
func hostRandom(unsafe.Pointer, uint32) int32                          { return 0 }

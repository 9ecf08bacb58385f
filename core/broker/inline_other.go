//go:build !linux

package broker

// Serving inline needs the idle poller (inline_linux.go).

func (c *client) inlineOK() bool         { return false }
func (c *client) waitInline() bool       { return false }
func writeDetached(fd int, b []byte) int { return 0 }

package setting

import (
	"errors"
	"testing"
)

func TestByteSizeTakesBinaryUnits(t *testing.T) {
	for text, want := range map[string]ByteSize{
		"1048576": 1 << 20, "512KiB": 512 << 10, "16MiB": 16 << 20, "2 GiB": 2 << 30, "1TiB": 1 << 40,
		"100B": 100, "-1": -1, "-1MiB": -1 << 20, "0": 0,
	} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(text)); err != nil || b != want {
			t.Errorf("%q: %d, %v; want %d", text, b, err, want)
		}
	}
	for _, bad := range []string{"lots", "64MB", "1.5MiB", "9000000000TiB", "", "MiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %d", bad, b)
		}
	}
}

func TestInPrefixesTheKeyPath(t *testing.T) {
	reason := errors.New("must not be negative")
	err := In("plugins", In("chain[0]", &Error{Key: "call_timeout", Err: reason}))
	var e *Error
	if !errors.As(err, &e) || e.Key != "plugins.chain[0].call_timeout" || !errors.Is(err, reason) {
		t.Fatalf("got %#v (%v), want key plugins.chain[0].call_timeout wrapping the reason", err, err)
	}
	if got := In("limits", errors.New("bad")).Error(); got != "limits: bad" {
		t.Errorf("an error without a key: %q", got)
	}
	if In("x", nil) != nil {
		t.Error("In(x, nil) is not nil")
	}
	if got := Join("chain", "[1].name"); got != "chain[1].name" {
		t.Errorf("Join: %q", got)
	}
}

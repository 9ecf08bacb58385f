package broker

import (
	"net"
	"testing"

	"github.com/plumemq/plume/core/budget"
	"github.com/plumemq/plume/core/packets"
)

// BenchmarkReaderNext frames 64-byte PUBLISHes off a loopback TCP socket, as
// a publisher's reader does: the cost per packet of the read path alone.
func BenchmarkReaderNext(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	pkt := (&packets.Publish{Topic: "bench/t", Payload: make([]byte, 64)}).Append(nil, packets.V5)
	burst := make([]byte, 0, 64<<10)
	for len(burst)+len(pkt) <= cap(burst) {
		burst = append(burst, pkt...)
	}
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, err := c.Write(burst); err != nil {
				return
			}
		}
	}()
	conn, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rd := newReaderForBench(conn)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	for range b.N {
		if _, _, err := rd.next(1<<20, budget.New(1<<30)); err != nil {
			b.Fatal(err)
		}
	}
}

func newReaderForBench(conn net.Conn) reader { return newReader(conn) }

package subject

import "testing"

func BenchmarkAppendTopic(b *testing.B) {
	c := codec(b)
	for _, tc := range []struct{ name, topic string }{
		{"plain", "factory/line-7/sensor/temperature"},
		{"escaped", "factory/line.7/sensor */é/"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = c.AppendTopic(buf[:0], tc.topic); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	c := codec(b)
	s, _ := c.Topic("factory/line.7/sensor */é/")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilter(b *testing.B) {
	c := codec(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Filter("factory/+/sensor/#"); err != nil {
			b.Fatal(err)
		}
	}
}

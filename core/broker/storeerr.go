package broker

import (
	"time"

	"github.com/rs/zerolog"
)

// storeErrorEvery is how often one kind of failing store call may write an
// error line; failures in between are counted and reported with the next
// line, or at the end of the interval (core/ratelog). A store whose disk is
// full fails every call, and would otherwise log a line per disconnect.
const storeErrorEvery = time.Second

// storeFailed logs that a store call failed, at most once a second per
// operation. The broker goes on serving from memory: what was lost is the
// durability of this change, which the line says (session.Store, "Errors").
// The caller adds client_id or topic to the returned event and sends it; nil
// means the line was held back and counted.
func (b *Broker) storeFailed(op string, err error) *zerolog.Event {
	ev := b.storeLog.Log(&b.log, zerolog.ErrorLevel, op)
	if ev == nil {
		return nil
	}
	return ev.Err(err).Str("store_op", op)
}

// reportStoreFailures writes the count of store failures held back when no
// later failure of the operation came to carry it.
func (b *Broker) reportStoreFailures(op string, suppressed uint64) {
	b.log.Error().Str("store_op", op).Uint64("suppressed", suppressed).Msg("session store call failed; the change is not durable")
}

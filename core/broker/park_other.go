//go:build !linux

package broker

import "time"

// poller is Linux-only; elsewhere connections keep their goroutines.
type poller struct{}

func newPoller(*connTable) (*poller, error)                      { return nil, errNoPoller }
func (p *poller) prepare(c *client, mode armMode) bool           { return false }
func (p *poller) arm(c *client, fd int32, add, level bool) error { return errNoPoller }
func (p *poller) disarm(fd int)                                  {}
func (p *poller) queueDetach(c *client)                          {}
func dupSocket(fd int) (int, error)                              { return -1, errNoPoller }
func (p *poller) schedule(*client, time.Time)                    {}
func (p *poller) unschedule(*client)                             {}
func (p *poller) loop()                                          {}
func (p *poller) stop()                                          {}
func (p *poller) close()                                         {}

type noPoller struct{}

func (noPoller) Error() string { return "no idle poller on this system" }

var errNoPoller error = noPoller{}

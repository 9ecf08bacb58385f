package interop

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proc is a client process whose stdout lines are read as they come.
type proc struct {
	cmd     *exec.Cmd
	lines   chan string
	done    chan struct{}
	skipped []string         // lines waitFor read past; a message may come before READY or SUBACK
	stderr  *strings.Builder // complete once done is closed
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 256), done: make(chan struct{}), stderr: stderr}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		cmd.Wait() // only after every read: Wait closes the pipe
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr: %s", name, stderr.String())
		}
	})
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	go func() { // unblock the reader if nobody else reads any more
		for range p.lines {
		}
	}()
	<-p.done
}

// rest returns every line not yet consumed: those waitFor skipped, then the
// ones still to come.
func (p *proc) rest() <-chan string {
	out := make(chan string, 256)
	go func() {
		defer close(out)
		for _, l := range p.skipped {
			out <- l
		}
		for l := range p.lines {
			out <- l
		}
	}()
	return out
}

// waitFor reads lines until one satisfies ok; the others are kept for rest.
func (p *proc) waitFor(t *testing.T, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case l, open := <-p.lines:
			if !open {
				t.Fatalf("%s exited before %s", filepath.Base(p.cmd.Path), what)
			}
			if ok(l) {
				return
			}
			p.skipped = append(p.skipped, l)
		case <-deadline:
			t.Fatalf("%s: no %s within %v", filepath.Base(p.cmd.Path), what, wait)
		}
	}
}

func hostPort(t *testing.T) (string, string) {
	h, port, err := net.SplitHostPort(strings.TrimPrefix(broker(t), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	return h, port
}

// mosquittoClients is mosquitto_pub and mosquitto_sub from Debian's
// mosquitto-clients.
type mosquittoClients struct{}

func (mosquittoClients) name() string     { return "mosquitto_pub+sub" }
func (mosquittoClients) versions() []byte { return []byte{4, 5} }

func (mosquittoClients) base(t *testing.T, v byte, tool string) []string {
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed (Debian package mosquitto-clients)", tool)
	}
	h, port := hostPort(t)
	ver := "mqttv311"
	if v == 5 {
		ver = "mqttv5"
	}
	return []string{"-h", h, "-p", port, "-V", ver}
}

const msgPrefix = "=msg=\t" // -F treats @ and % specially

func (m mosquittoClients) subscribe(t *testing.T, v byte, s subSpec) (<-chan msg, func()) {
	args := append(m.base(t, v, "mosquitto_sub"), "-i", s.ClientID, "-t", s.Topic, "-q", strconv.Itoa(int(s.QoS)),
		"-d", "-F", msgPrefix+"%t\t%q\t%r\t%p")
	if !s.Clean {
		args = append(args, "-c")
		if v == 5 {
			args = append(args, "-x", "300")
		}
	}
	if s.Detach {
		args = append(args, "-E")
	}
	if s.Count > 0 {
		args = append(args, "-C", strconv.Itoa(s.Count))
	}
	p := start(t, "stdbuf", append([]string{"-oL", "mosquitto_sub"}, args...)...) // line-buffered through the pipe
	ready := "received SUBACK"
	if !s.Subscribe {
		// Resuming: mosquitto_sub subscribes again, but stored messages may
		// come before the SUBACK.
		ready = "received CONNACK"
	}
	p.waitFor(t, ready, func(l string) bool { return strings.Contains(l, ready) })
	if s.Detach {
		<-p.done
		return nil, func() {}
	}
	ch := make(chan msg, 64)
	go func() {
		defer close(ch)
		for l := range p.rest() {
			if rest, ok := strings.CutPrefix(l, msgPrefix); ok {
				f := strings.SplitN(rest, "\t", 4)
				if len(f) == 4 {
					q, _ := strconv.Atoi(f[1])
					ch <- msg{Topic: f[0], QoS: byte(q), Retain: f[2] == "1", Payload: f[3]}
				}
			}
		}
	}()
	return ch, p.kill
}

func (m mosquittoClients) publish(t *testing.T, v byte, msg msg) {
	args := append(m.base(t, v, "mosquitto_pub"), "-i", "pub"+tag(), "-t", msg.Topic, "-m", msg.Payload, "-q", strconv.Itoa(int(msg.QoS)))
	if msg.Retain {
		args = append(args, "-r")
	}
	if out, err := exec.Command("mosquitto_pub", args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
}

func (m mosquittoClients) withWill(t *testing.T, v byte, will msg) func() {
	args := append(m.base(t, v, "mosquitto_sub"), "-i", "will"+tag(), "-t", will.Topic+"/unused", "-d",
		"--will-topic", will.Topic, "--will-payload", will.Payload, "--will-qos", strconv.Itoa(int(will.QoS)))
	if will.Retain {
		args = append(args, "--will-retain")
	}
	p := start(t, "stdbuf", append([]string{"-oL", "mosquitto_sub"}, args...)...)
	p.waitFor(t, "SUBACK", func(l string) bool { return strings.Contains(l, "received SUBACK") })
	return p.kill // SIGKILL: no DISCONNECT, the broker sees the connection drop
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/callflow/callflow/bench/measure"
	"github.com/callflow/callflow/esl"
)

// pbx is what a run asks of the switch under the load: Asterisk over ARI
// (ari) or FreeSWITCH over the event socket (fsw).
type pbx interface {
	// waitIdle polls until the switch has no channels left or timeout
	// passes, and returns how many remain.
	waitIdle(ctx context.Context, timeout time.Duration) (int, error)
	// waitApp waits until the application under test can take calls.
	waitApp(ctx context.Context, app string, timeout time.Duration, exited <-chan struct{}) error
	// callerChannels counts the channels that are not agent legs.
	callerChannels(ctx context.Context) (int, error)
	// observe starts recording DTMF and action events of every channel.
	observe(ctx context.Context) (observer, error)
	// name is how the report calls the switch.
	name() string
}

// observer is a running event observer (measure.Observer, measure.ESLObserver).
type observer interface {
	Close() ([]measure.Event, int, error)
}

func (a ari) observe(ctx context.Context) (observer, error) {
	wsURL, err := measure.ObserverURL(a.url, "bench-observer", a.user, a.pass)
	if err != nil {
		return nil, err
	}
	return measure.Observe(ctx, wsURL)
}

func (a ari) name() string { return "Asterisk" }

// fsw is the few event-socket requests benchrun makes of FreeSWITCH, over
// one inbound connection.
type fsw struct {
	addr, pass string
	socketAddr string // where the dialplan's socket application connects
	conn       *esl.Conn
}

func dialFS(ctx context.Context, addr, pass, socketAddr string) (*fsw, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := esl.Dial(dctx, addr, pass, esl.Options{})
	if err != nil {
		return nil, fmt.Errorf("freeswitch: event socket %s: %w", addr, err)
	}
	return &fsw{addr: addr, pass: pass, socketAddr: socketAddr, conn: c}, nil
}

func (f *fsw) close() { f.conn.Close() }

func (f *fsw) name() string { return "FreeSWITCH" }

func (f *fsw) api(ctx context.Context, cmd, args string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := f.conn.API(ctx, esl.API{Cmd: cmd, Args: args})
	if err != nil {
		return "", fmt.Errorf("freeswitch: api %s %s: %w", cmd, args, err)
	}
	return out, nil
}

func (f *fsw) waitIdle(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := f.api(ctx, "show", "channels count")
		if err != nil {
			return -1, err
		}
		n, err := parseChannelCount(out)
		if err != nil {
			return -1, err
		}
		if n == 0 || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// parseChannelCount reads "show channels count": a blank line, then
// "N total.".
func parseChannelCount(out string) (int, error) {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "total." {
			if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return -1, fmt.Errorf("freeswitch: show channels count: unexpected output %q", out)
}

func (f *fsw) callerChannels(ctx context.Context) (int, error) {
	out, err := f.api(ctx, "show", "channels as json")
	if err != nil {
		return 0, err
	}
	return countCallers(out)
}

// countCallers counts the rows of "show channels as json" that are not
// agent legs (sofia/callflow/agentN@…). FreeSWITCH prints {"row_count":0}
// without rows when there is no channel.
func countCallers(out string) (int, error) {
	var res struct {
		Rows []struct {
			Name string `json:"name"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return 0, fmt.Errorf("freeswitch: show channels as json: %w", err)
	}
	n := 0
	for _, r := range res.Rows {
		if !strings.HasPrefix(r.Name, "sofia/callflow/agent") {
			n++
		}
	}
	return n, nil
}

// waitApp waits until something listens on the socket hand-off address:
// both callflow and the peer dial the event socket first and listen after,
// so a listener means the application is ready for calls. It looks at the
// kernel's socket table instead of connecting, which the application would
// take for a call.
func (f *fsw) waitApp(ctx context.Context, app string, timeout time.Duration, exited <-chan struct{}) error {
	_, p, err := net.SplitHostPort(f.socketAddr)
	if err != nil {
		return fmt.Errorf("freeswitch: socket address %q: %w", f.socketAddr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return fmt.Errorf("freeswitch: socket address %q: %w", f.socketAddr, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, err := tcpListening("/proc/net/tcp", port)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("freeswitch: nothing listens on %s after %v", f.socketAddr, timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-exited:
			return fmt.Errorf("freeswitch: the application exited before listening on %s", f.socketAddr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tcpListening reports whether the socket table at path (/proc/net/tcp)
// has a socket in state LISTEN (0A) on port.
func tcpListening(path string, port int) (bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("freeswitch: %w", err)
	}
	defer fh.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st ...
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true, nil
		}
	}
	return false, sc.Err()
}

func (f *fsw) observe(ctx context.Context) (observer, error) {
	return measure.ObserveESL(ctx, f.addr, f.pass)
}

package e2etest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callflow/callflow/internal/sipptest"
)

// phonePoll is how often a Phone reads its UAS's call log; it bounds the
// error of PhoneCall.At.
const phonePoll = 20 * time.Millisecond

// PhoneCall is one INVITE a Phone received.
type PhoneCall struct {
	sipptest.UASCall
	// At is when the Phone first saw the INVITE in sipp's log (at most
	// phonePoll late).
	At time.Time
	// Mode is how the UAS treated it.
	Mode sipptest.Mode
}

// Phone is an agent's or a customer's phone: a sipp UAS on a fixed port
// that can change mode (stop and start again on the same port) and keeps
// every call it received across those restarts, with its arrival time.
type Phone struct {
	Name string
	Port int

	mu    sync.Mutex
	opt   sipptest.UASOptions
	uas   *sipptest.UAS // nil after Stop
	seen  int           // calls of uas already in calls
	calls []PhoneCall
	logs  strings.Builder // logs of UAS runs that ended

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// StartPhone starts a UAS with opt (opt.Port must be set: the port
// Asterisk's endpoint points at). The UAS runs until Stop, not until ctx
// ends.
func StartPhone(ctx context.Context, name string, opt sipptest.UASOptions) (*Phone, error) {
	if opt.Port == 0 {
		return nil, fmt.Errorf("e2etest: phone %s: no port", name)
	}
	uas, err := sipptest.StartUAS(context.WithoutCancel(ctx), opt)
	if err != nil {
		return nil, fmt.Errorf("e2etest: phone %s: %w", name, err)
	}
	p := &Phone{Name: name, Port: opt.Port, opt: opt, uas: uas, stop: make(chan struct{}), done: make(chan struct{})}
	// Ends on Stop.
	go p.poll()
	return p, nil
}

func (p *Phone) poll() {
	defer close(p.done)
	t := time.NewTicker(phonePoll)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.collect()
			p.mu.Unlock()
		}
	}
}

// collect appends the current UAS's new calls; p.mu is held.
func (p *Phone) collect() {
	if p.uas == nil {
		return
	}
	calls := p.uas.Calls()
	now := time.Now()
	for _, c := range calls[min(p.seen, len(calls)):] {
		p.calls = append(p.calls, PhoneCall{UASCall: c, At: now, Mode: p.opt.Mode})
	}
	p.seen = max(p.seen, len(calls))
}

// SetMode restarts the UAS on the same port in mode, with hold (answer
// mode: hang up after hold; 0 waits for the other side's BYE). Calls in
// progress on the old UAS are dropped by sipp.
func (p *Phone) SetMode(ctx context.Context, mode sipptest.Mode, hold time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uas == nil {
		return fmt.Errorf("e2etest: phone %s: stopped", p.Name)
	}
	p.collect()
	p.keepLog()
	err := p.uas.Stop()
	p.uas, p.seen = nil, 0
	if err != nil {
		return fmt.Errorf("e2etest: phone %s: %w", p.Name, err)
	}
	p.opt.Mode, p.opt.Hold = mode, hold
	uas, err := sipptest.StartUAS(context.WithoutCancel(ctx), p.opt)
	if err != nil {
		return fmt.Errorf("e2etest: phone %s: restart as %s: %w", p.Name, mode, err)
	}
	p.uas = uas
	return nil
}

func (p *Phone) keepLog() {
	fmt.Fprintf(&p.logs, "--- %s as %s\n%s%s", p.Name, p.opt.Mode, p.uas.Log(), p.uas.Messages())
}

// Calls returns every INVITE received so far, in arrival order.
func (p *Phone) Calls() []PhoneCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.collect()
	return append([]PhoneCall(nil), p.calls...)
}

// WaitCalls waits until the phone has received at least n calls.
func (p *Phone) WaitCalls(ctx context.Context, n int) ([]PhoneCall, error) {
	for {
		calls := p.Calls()
		if len(calls) >= n {
			return calls, nil
		}
		select {
		case <-ctx.Done():
			return calls, fmt.Errorf("e2etest: phone %s: %d of %d calls: %w", p.Name, len(calls), n, context.Cause(ctx))
		case <-time.After(phonePoll):
		}
	}
}

// WaitLog waits until the phone's call log or SIP messages contain s.
func (p *Phone) WaitLog(ctx context.Context, s string) error {
	for {
		if strings.Contains(p.Log(), s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("e2etest: phone %s: log never showed %q: %w", p.Name, s, context.Cause(ctx))
		case <-time.After(phonePoll):
		}
	}
}

// Log returns the call logs and SIP messages of every UAS run so far.
func (p *Phone) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.logs.String()
	if p.uas != nil {
		s += fmt.Sprintf("--- %s as %s\n%s%s", p.Name, p.opt.Mode, p.uas.Log(), p.uas.Messages())
	}
	return s
}

// Stop ends the UAS and the poller. Later calls return the first result.
func (p *Phone) Stop() error {
	p.stopOnce.Do(func() {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.uas == nil {
			return
		}
		p.collect()
		p.keepLog()
		if err := p.uas.Stop(); err != nil {
			p.stopErr = fmt.Errorf("e2etest: phone %s: %w", p.Name, err)
		}
		p.uas = nil
	})
	return p.stopErr
}

// StopAll stops every phone and joins their errors.
func StopAll(phones ...*Phone) error {
	var errs []error
	for _, p := range phones {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	return errors.Join(errs...)
}

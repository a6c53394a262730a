package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Errors of a connection.
var (
	// ErrTimeout: a command got no reply within the command timeout. On an
	// inbound Conn the connection is then closed and redialled; on an
	// outbound Session it is a fault the caller must handle (uuid_kill the
	// channel through an inbound connection).
	ErrTimeout = errors.New("esl: command timed out")
	// ErrClosed: the connection or stream was closed by us.
	ErrClosed = errors.New("esl: connection closed")
	// ErrDisconnected: FreeSWITCH sent a disconnect-notice and closed.
	ErrDisconnected = errors.New("esl: disconnected by peer")
	// ErrConnLost: the link broke (I/O error, EOF without notice).
	ErrConnLost = errors.New("esl: connection lost")
	// ErrCommandFailed matches every *ReplyError.
	ErrCommandFailed = errors.New("esl: command failed")
)

// ReplyError is a "-ERR …" (or "-USAGE …") reply to a command.
type ReplyError struct {
	Command string // first line of the command, for context
	Text    string // the reply text or api body, trimmed
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("esl: %s: %s", e.Command, e.Text)
}

// Is makes errors.Is(err, ErrCommandFailed) true.
func (e *ReplyError) Is(target error) bool { return target == ErrCommandFailed }

// Cause is the first word after "-ERR " ("NO_ANSWER" for an originate
// that was not answered), or "".
func (e *ReplyError) Cause() string {
	t, ok := strings.CutPrefix(e.Text, "-ERR ")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(t, " \n"); i >= 0 {
		t = t[:i]
	}
	return t
}

// replyError returns a *ReplyError for a failed reply text or api body.
func replyError(cmd []byte, text string) error {
	t := strings.TrimRight(text, "\n")
	if strings.HasPrefix(t, "-ERR") || strings.HasPrefix(t, "-USAGE") {
		line := string(cmd)
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		return &ReplyError{Command: line, Text: t}
	}
	return nil
}

// pending is one command waiting for its reply. Replies come strictly in
// command order, so pendings form a FIFO; a pending whose caller gave up
// stays in the FIFO and its late reply is discarded.
type pending struct {
	ch chan *Frame // buffered 1
}

// link is one TCP connection: serialized writes, a FIFO of pendings and
// one reader goroutine (started by start, ends when the socket does).
type link struct {
	nc  net.Conn
	rd  *Reader
	log *zap.Logger

	wmu     sync.Mutex // serializes write+enqueue so FIFO order = wire order
	pmu     sync.Mutex
	pending []*pending

	dead     chan struct{}
	deadOnce sync.Once
	err      error // set before dead is closed
	// readDone is closed when the reader goroutine has ended: no
	// onEvent or onNotice call happens after that.
	readDone chan struct{}

	// onEvent receives every event in wire order from the reader goroutine;
	// it must not block.
	onEvent func(*Event)
	// onNotice receives disconnect-notices.
	onNotice func(*Frame)
}

func newLink(nc net.Conn, log *zap.Logger) *link {
	return &link{nc: nc, rd: NewReader(nc), log: log, dead: make(chan struct{}), readDone: make(chan struct{})}
}

// close kills the link and waits for its reader goroutine, so no frame
// read meanwhile is routed afterwards. The link must have been started.
func (l *link) close(err error) {
	l.kill(err)
	<-l.readDone
}

// kill closes the socket once, recording why.
func (l *link) kill(err error) {
	l.deadOnce.Do(func() {
		l.err = err
		_ = l.nc.Close()
		close(l.dead)
	})
}

// start runs the reader goroutine. It ends when the socket fails or is
// closed (kill), after which every pending is released.
func (l *link) start() {
	go l.readLoop()
}

func (l *link) readLoop() {
	defer close(l.readDone)
	var err error
	notice := false
	for {
		var f *Frame
		f, err = l.rd.ReadFrame()
		if err != nil {
			break
		}
		switch ct := f.ContentType(); ct {
		case TypeCommandReply, TypeAPIResponse:
			l.deliver(f)
		case TypeEventPlain, TypeEventJSON, TypeEventXML:
			e, perr := ParseEvent(f)
			if perr != nil {
				l.log.Error("esl undecodable event", zap.Error(perr))
				continue
			}
			if l.onEvent != nil {
				l.onEvent(e)
			} else {
				l.log.Debug("esl event without consumer", zap.String("event", e.Name()))
			}
		case TypeDisconnectNotice:
			notice = notice || f.Header.Get("Content-Disposition") != "linger"
			if l.onNotice != nil {
				l.onNotice(f)
			}
		case TypeLogData:
			l.log.Debug("esl log/data", zap.ByteString("body", f.Body))
		default:
			l.log.Warn("esl unexpected frame", zap.String("content_type", ct))
		}
	}
	switch {
	case notice:
		l.kill(ErrDisconnected)
	default:
		l.kill(fmt.Errorf("%w: %v", ErrConnLost, err))
	}
	l.pmu.Lock()
	l.pending = nil
	l.pmu.Unlock()
}

func (l *link) deliver(f *Frame) {
	l.pmu.Lock()
	if len(l.pending) == 0 {
		l.pmu.Unlock()
		l.log.Error("esl reply without a command", zap.String("reply", f.ReplyText()))
		return
	}
	p := l.pending[0]
	l.pending[0] = nil
	l.pending = l.pending[1:]
	l.pmu.Unlock()
	p.ch <- f // buffered 1, one reply per pending: never blocks
}

// roundTrip writes b and waits for its reply. timeout > 0 bounds the wait
// for the reply (and the write); on expiry it returns ErrTimeout and the
// pending stays queued so a late reply is not mistaken for another's.
func (l *link) roundTrip(ctx context.Context, b []byte, timeout time.Duration) (*Frame, error) {
	p := &pending{ch: make(chan *Frame, 1)}
	l.wmu.Lock()
	select {
	case <-l.dead:
		l.wmu.Unlock()
		return nil, l.err
	default:
	}
	l.pmu.Lock()
	l.pending = append(l.pending, p)
	l.pmu.Unlock()
	if timeout > 0 {
		_ = l.nc.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, err := l.nc.Write(b)
	l.wmu.Unlock()
	if err != nil {
		// A partial write leaves the stream unusable.
		// The caller sees ErrConnLost, as for a link found dead before
		// the write (the reader may not have noticed the EOF yet).
		lost := fmt.Errorf("%w: write: %w", ErrConnLost, err)
		l.kill(lost)
		return nil, lost
	}
	var tc <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case f := <-p.ch:
		return f, nil
	case <-l.dead:
		select {
		case f := <-p.ch:
			return f, nil
		default:
		}
		return nil, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-tc:
		return nil, ErrTimeout
	}
}

// send renders cmd, round-trips it and turns -ERR replies into
// *ReplyError (the frame is returned as well).
func (l *link) send(ctx context.Context, cmd Command, timeout time.Duration) (*Frame, error) {
	b, err := cmd.Render()
	if err != nil {
		return nil, err
	}
	l.log.Debug("esl send", zap.ByteString("cmd", firstLine(b)))
	f, err := l.roundTrip(ctx, b, timeout)
	if err != nil {
		return nil, fmt.Errorf("esl: %s: %w", firstLine(b), err)
	}
	text := f.ReplyText()
	if f.ContentType() == TypeAPIResponse {
		text = string(f.Body)
	}
	if rerr := replyError(b, text); rerr != nil {
		return f, rerr
	}
	return f, nil
}

func firstLine(b []byte) []byte {
	for i, c := range b {
		if c == '\n' {
			return b[:i]
		}
	}
	return b
}

func zapErr(err error) zap.Field { return zap.Error(err) }

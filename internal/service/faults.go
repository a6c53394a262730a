//go:build faultinject

package service

import (
	"sync"

	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/trace"
)

// KillSink is the crash-point test facility of config.FaultsConfig: it
// passes every event to next and, right after next has taken the
// f.Count-th event of f's source and kind, calls kill in the emitting
// goroutine (serve passes a SIGKILL of its own process), so the crash lands
// between the commit that event reports and the next side effect. Without
// a crash point it returns next. Only builds with the tag faultinject have
// it; production builds get faults_production.go's, which never kills.
func KillSink(f config.FaultsConfig, next trace.Sink, kill func(trace.Event)) trace.Sink {
	if f.KillAfter == "" || kill == nil {
		return next
	}
	return &killSink{next: next, source: f.Source(), kind: f.Kind(), count: max(f.Count, 1), kill: kill}
}

type killSink struct {
	next         trace.Sink
	source, kind string
	count        int
	kill         func(trace.Event)

	mu   sync.Mutex
	seen int
}

func (k *killSink) Emit(e trace.Event) {
	k.next.Emit(e)
	if e.Source != k.source || e.Kind != k.kind {
		return
	}
	k.mu.Lock()
	k.seen++
	fire := k.seen == k.count
	k.mu.Unlock()
	if fire {
		k.kill(e)
	}
}

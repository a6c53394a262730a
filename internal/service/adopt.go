package service

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/flowvm"
)

// adoptTimeout bounds the re-adoption at start: listing the switch's calls
// and rebuilding the lines. New calls wait for it.
const adoptTimeout = 30 * time.Second

// adopt takes back the calls a previous process left in the switch
// (docs/restart.md): it lists them, lets the queue engine rebuild the
// lines from the durable rows and restarts each surviving caller's flow
// at the point the engine chose.
func (s *Service) adopt(ctx context.Context, rt flowvm.Runtime) {
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, adoptTimeout)
	defer cancel()
	var alive []string
	ad, ok := s.sw.(adapter.Adopter)
	if ok {
		infos, err := ad.Survivors(actx)
		if err != nil {
			s.log.Error("re-adoption: cannot list the switch's calls; calls left by the previous process are not taken back", zap.Error(err))
			s.engine.EndAdoption()
			return
		}
		for _, in := range infos {
			alive = append(alive, in.ID)
		}
	} else {
		s.log.Warn("re-adoption: the switch cannot list the calls a previous process left; their line entries are closed",
			zap.String("switch", s.sw.Name()))
	}
	plan, err := s.engine.Adopt(actx, s.store, alive)
	if err != nil {
		s.log.Error("re-adoption failed", zap.Error(err))
		return
	}
	ids := make([]string, 0, len(plan.Run))
	for id := range plan.Run {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		point := plan.Run[id]
		err := ad.Adopt(ctx, id, func(ctx context.Context, c adapter.Call) { s.resume(ctx, c, rt, point) })
		if err != nil {
			lvl := s.log.Warn
			if errors.Is(err, adapter.ErrNotFound) {
				lvl = s.log.Info
			}
			lvl("re-adoption: call not taken back", zap.String("call_id", id), zap.Error(err))
		}
	}
	s.log.Info("re-adoption done", zap.Int("flows_restarted", len(plan.Run)), zap.Int("conversations", plan.Conversations),
		zap.Int("closed", plan.Closed), zap.Int("refused", plan.Refused), zap.Duration("took", time.Since(start)))
}

// resume runs an adopted call's flow again from point (see
// flowvm.Program.Resume).
func (s *Service) resume(ctx context.Context, c adapter.Call, rt flowvm.Runtime, point string) {
	info := c.Info()
	name, prog := s.FlowFor(info)
	log := s.log.With(zap.String("call_id", c.ID()), zap.String("flow", name))
	if prog == nil {
		log.Error("no flow for adopted call", zap.String("dialed", info.Dialed), zap.Strings("args", info.Args))
		return
	}
	s.engine.Rebind(c)
	log.Info("adopted call resumed", zap.String("at", point))
	rt.Log = log
	known, err := prog.Resume(ctx, c, rt, point)
	if !known {
		log.Warn("resume point not in this flow; ran from the flow's resume notation", zap.String("at", point))
	}
	if err != nil {
		log.Warn("flow ended with an error", zap.Error(err))
		return
	}
	log.Info("call ended")
}

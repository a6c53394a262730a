package flowvm

import (
	"context"
	"fmt"
	"strconv"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

var logSpec = &spec{
	typ: "log",
	doc: "Writes a message to the service log (and the trace).",
	params: []param{
		{name: "message", kind: pTemplate, required: true, doc: "the message, a template"},
		{name: "level", kind: pEnum, def: "info", enum: []string{"debug", "info", "warn", "error"}, doc: "log level"},
	},
	exits: []exitSpec{{name: "next"}},
	build: func(_ *compiler, n *nnode) op {
		lvl, _ := zapcore.ParseLevel(n.vals["level"].(string))
		return &logOp{msg: n.vals["message"].(*tmpl), level: lvl}
	},
}

type logOp struct {
	msg   *tmpl
	level zapcore.Level
}

func (o *logOp) exec(_ context.Context, r *run, in *instr) (int, error) {
	s, err := r.render(o.msg)
	if err != nil {
		return 0, err
	}
	r.log.Log(o.level, "flow log", zap.String("pos", in.posStr), zap.String("message", s))
	r.detail("message", s)
	return 0, nil
}

func (o *logOp) args() string {
	return fmt.Sprintf("level=%s message=%s", o.level, strconv.Quote(o.msg.src))
}

package flowvm

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/callflow/callflow/adapter"
)

var recordSpec = &spec{
	typ: "record", io: true, blocks: true,
	doc: "Records the caller into the media store as <call id>-<notation id>-<n>. Sets recording to the playable " +
		"prompt recording:NAME and recording_duration to whole seconds.",
	params: []param{
		{name: "max_length", kind: pDuration, def: 60 * time.Second, doc: "longest recording"},
		{name: "beep", kind: pBool, def: true, doc: "beep before recording"},
		{name: "terminator", kind: pEnum, def: "#", enum: terminators, doc: `digit that stops the recording ("" = none)`},
		{name: "silence_timeout", kind: pDuration, def: time.Duration(0), doc: "stop after this much silence (0 = off)"},
		{name: "format", kind: pEnum, def: "wav", enum: []string{"wav", "gsm", "ulaw", "alaw", "sln"}, doc: "file format"},
	},
	exits: []exitSpec{{name: "next", doc: "recorded"}, {name: "error", doc: "the switch could not record"}},
	build: func(_ *compiler, n *nnode) op {
		return &recordOp{opt: adapter.RecordOptions{
			Format: n.vals["format"].(string), MaxDuration: n.vals["max_length"].(time.Duration),
			SilenceTimeout: n.vals["silence_timeout"].(time.Duration), Beep: n.vals["beep"].(bool),
			Terminator: n.vals["terminator"].(string),
		}}
	},
}

type recordOp struct{ opt adapter.RecordOptions }

func (o *recordOp) exec(ctx context.Context, r *run, in *instr) (int, error) {
	if r.recN == nil {
		r.recN = map[int]int{}
	}
	r.recN[in.pc]++
	opt := o.opt
	opt.Name = r.callID + "-" + in.id + "-" + strconv.Itoa(r.recN[in.pc])
	rec, err := r.call.Record(ctx, opt)
	if err != nil {
		return 0, fmt.Errorf("record %s: %w", opt.Name, err)
	}
	secs := int((rec.Duration + time.Second/2) / time.Second)
	r.env["recording"] = string(rec.Prompt())
	r.env["recording_duration"] = secs
	r.detail("recording", string(rec.Prompt()))
	r.detail("duration", strconv.Itoa(secs))
	return 0, nil
}

func (o *recordOp) args() string {
	return fmt.Sprintf("max_length=%s beep=%t terminator=%q silence=%s format=%s",
		o.opt.MaxDuration, o.opt.Beep, o.opt.Terminator, o.opt.SilenceTimeout, o.opt.Format)
}

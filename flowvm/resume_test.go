package flowvm

import (
	"context"
	"slices"
	"testing"

	"github.com/callflow/callflow/trace"
)

func TestResume(t *testing.T) {
	files := map[string]string{
		"main": `
start: welcome
resume: menu
notations:
  welcome: {type: play, prompts: ['sound:welcome'], next: menu}
  menu: {type: play, prompts: ['sound:menu'], next: bye}
  bye: {type: hangup}
`,
		"plain": `
start: a
notations:
  a: {type: play, prompts: ['sound:a'], next: b}
  b: {type: play, prompts: ['sound:b']}
`,
	}
	cases := []struct {
		name, entry, point string
		known              bool
		want               []string
	}{
		{"declared resume point", "main", "", true, []string{"play [sound:menu]", "hangup normal"}},
		{"default is the start", "plain", "", true, []string{"play [sound:a]", "play [sound:b]"}},
		{"named notation", "main", "main/bye", true, []string{"hangup normal"}},
		{"unknown point falls back", "main", "main/gone", false, []string{"play [sound:menu]", "hangup normal"}},
		{"unknown flow falls back", "main", "other/bye", false, []string{"play [sound:menu]", "hangup normal"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoad(t, files, tc.entry)
			call := newCall("c1")
			rec := &trace.Recorder{}
			known, err := p.Resume(context.Background(), call, Runtime{Switch: &fakeSwitch{}, Queues: &fakeQueues{}, Trace: rec}, tc.point)
			if err != nil || known != tc.known {
				t.Fatalf("resume: known %v err %v, want known %v", known, err, tc.known)
			}
			var got []string
			for _, op := range call.ops() {
				if len(op) >= 4 && (op[:4] == "play" || op[:4] == "hang") {
					got = append(got, op)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ops %q, want %q", call.ops(), tc.want)
			}
		})
	}
}

package flowvm

import (
	"strings"

	"github.com/callflow/callflow/media"
)

// checkPrompt refuses at load a prompt template no switch can play, with
// media.ParsePrompt, the check the run time applies to the rendered text
// (run.prompts) and the API to callback media. A literal prompt is checked
// whole (number:abc, foo:bar); a prompt with ${…} has its scheme checked
// when the literal text before the first expression holds the colon
// (number:${queue.position}); its value, and a prompt that is all
// expression (${recording}), are checked when rendered.
func (l *loader) checkPrompt(name string, t *tmpl, pos Pos) {
	if len(t.parts) == 0 {
		return
	}
	first := t.parts[0]
	if len(t.parts) == 1 && first.e == nil {
		if _, err := media.ParsePrompt(first.lit); err != nil {
			l.errs.add(pos, "%s: %v", name, err)
		}
		return
	}
	if first.e != nil {
		return
	}
	scheme, _, ok := strings.Cut(strings.TrimSpace(first.lit), ":")
	if !ok {
		return
	}
	if _, err := media.ParseKind(scheme); err != nil {
		l.errs.add(pos, "%s: prompt %q: %v", name, t.src, err)
	}
}

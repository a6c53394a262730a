package flowvm

// announce_wait shares announceOp with announce_position.

var announceWaitSpec = &spec{
	typ: "announce_wait", io: true, blocks: true,
	doc: "Speaks the estimated wait rounded up to minutes: sound:queue-holdtime, number:M, sound:queue-minutes. " +
		"Says nothing without a queue entry or an estimate.",
	params: []param{{name: "prompts", kind: pPrompts, doc: "prompts instead of the default (may use ${queue.ewt})"}},
	exits:  []exitSpec{{name: "next"}},
	build: func(_ *compiler, n *nnode) op {
		o := &announceOp{wait: true}
		o.prompts, _ = n.vals["prompts"].([]*tmpl)
		return o
	},
}

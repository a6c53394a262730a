package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/queue"
)

// kind is how a config value is written.
type kind int

const (
	kSection  kind = iota // a mapping with the fixed keys of key.keys
	kMap                  // a mapping of names (key.names) to values (key.values)
	kText                 // one scalar, read as text (str, path)
	kName                 // a plain name (flow, queue, trunk, app)
	kBool                 // true or false
	kCount                // a whole number >= key.min
	kDuration             // a duration (internal/duration); 0 allowed
	kPositive             // a duration more than 0
	kEnum                 // one of key.enum
	kPattern              // text matching key.pattern
	kList                 // a list of key.items (a single item is a list of one)
	kSecret               // a secret: the key inline or key_file naming a file; at most one
)

// key is one key of the configuration: the table the decoder checks every
// mapping against (decoder.fields) and the JSON Schema is generated from
// (JSONSchema). A key added to a decoder and not here, or here and not to
// the decoder, is reported as an internal error by every Parse that
// reaches the mapping.
type key struct {
	name     string
	kind     kind
	doc      string
	required bool     // kSecret: one of key and key_file is required
	def      any      // default, for the schema's documentation
	enum     []string // kEnum
	pattern  string   // kPattern; kMap: pattern of the names
	min      int      // kCount
	keys     []*key   // kSection
	values   *key     // kMap
	items    *key     // kList
	nonEmpty bool     // kList: an empty list is an error
	// needs: kEnum value → the sibling section that value requires
	// (switch.type asterisk needs switch.asterisk).
	needs map[string]string
	// testOnly keys exist in test builds only (faults): the schema leaves
	// them out, as a production binary refuses them.
	testOnly bool
}

func sec(name, doc string, keys ...*key) *key {
	return &key{name: name, kind: kSection, doc: doc, keys: keys}
}

func leaf(name string, k kind, doc string) *key { return &key{name: name, kind: k, doc: doc} }

func (k *key) req() *key          { k.required = true; return k }
func (k *key) dflt(v any) *key    { k.def = v; return k }
func (k *key) atLeast(n int) *key { k.min = n; return k }
func (k *key) only() *key         { k.testOnly = true; return k }
func (k *key) full() *key         { k.nonEmpty = true; return k }
func enumKey(name, doc string, vs ...string) *key {
	return &key{name: name, kind: kEnum, doc: doc, enum: vs}
}
func patternKey(name, pattern, doc string) *key {
	return &key{name: name, kind: kPattern, pattern: pattern, doc: doc}
}
func listKey(name, doc string, items *key) *key {
	return &key{name: name, kind: kList, doc: doc, items: items}
}
func mapKey(name, names, doc string, values *key) *key {
	return &key{name: name, kind: kMap, pattern: names, doc: doc, values: values}
}

// Patterns of the schema, the same expressions the decoder matches.
const (
	hostPortPattern = `^.*:[0-9]{1,5}$`
	clockPattern    = `^[0-9]{1,2}:[0-9]{2}$`
	dayPattern      = `^\s*[A-Za-z]+(-[A-Za-z]+)?\s*$`
	prefixPattern   = `^\+[0-9]+$`
	regionPattern   = `^[A-Za-z]{2,3}$`
)

// agentItemPattern is an item of a queue's agents: a name from the agents
// section (plainName) or a switch endpoint (endpointRE). An item with a '/'
// is an endpoint.
var agentItemPattern = `^(?:` + bare(plainName) + `|` + bare(endpointRE) + `)$`

// bare is an anchored expression without its anchors.
func bare(re *regexp.Regexp) string {
	return strings.TrimSuffix(strings.TrimPrefix(re.String(), "^"), "$")
}

// configKeys is every key of the configuration file.
var configKeys = sec("config", "callflow service configuration",
	sec("switch", "which PBX callflow drives and how to reach it",
		&key{name: "type", kind: kEnum, doc: "the PBX driver: asterisk, freeswitch or sim (the built-in simulator)",
			enum: []string{string(Asterisk), string(FreeSWITCH), string(Sim)}, required: true,
			needs: map[string]string{string(Asterisk): "asterisk", string(FreeSWITCH): "freeswitch"}},
		sec("asterisk", "Asterisk over ARI (needed when type is asterisk)",
			leaf("url", kText, "URL of the ARI root, e.g. http://127.0.0.1:8088/ari (http or https, no credentials)").req(),
			leaf("username", kText, "the ari.conf user").req(),
			leaf("password", kSecret, "the ari.conf user's password").req(),
			leaf("app", kName, "the Stasis application name the dialplan uses").dflt(DefaultAsteriskApp),
			leaf("recordings_dir", kText, "absolute path of Asterisk's recording folder (astspooldir/recording) when callflow runs on Asterisk's host: recordings are copied from there instead of downloaded over ARI"),
			patternKey("fastagi_listen", hostPortPattern, "host:port where callflow accepts AGI(agi://HOST:PORT/FLOW,ARGS) hand-offs (default: off; see docs/agi.md)"),
			leaf("fastagi_allow_remote", kBool, "allow a fastagi_listen address reachable from other hosts (FastAGI has no authentication)").dflt(false),
		),
		sec("freeswitch", "FreeSWITCH over the event socket (needed when type is freeswitch)",
			patternKey("inbound", hostPortPattern, "host:port of mod_event_socket").dflt(DefaultESLInbound),
			leaf("password", kSecret, "the event socket's password").req(),
			patternKey("outbound_listen", hostPortPattern, "host:port where callflow listens for the dialplan's socket application").dflt(DefaultESLOutbound),
		),
	).req(),
	sec("flows", "where flows live and which flow a call runs",
		leaf("dir", kText, "folder of the flow files, relative to the config file").dflt(DefaultFlowsDir),
		leaf("default", kName, "flow for calls that name none").dflt(DefaultFlow),
		mapKey("by_dialed", dialedRE.String(), "dialled number or extension → flow; a flow named by the switch's hand-over wins",
			leaf("", kName, "flow name")),
	),
	sec("store", "the database",
		leaf("path", kText, `SQLite file, relative to the config file (":memory:" and "file:" URIs unchanged)`).dflt(DefaultStorePath),
		leaf("postgres", kSecret, "PostgreSQL DSN (postgres://user@host:port/database or key=value pairs) instead of path"),
	),
	sec("media", "the recordings",
		leaf("dir", kText, "folder of the recording store, relative to the config file").dflt(DefaultMediaDir),
		leaf("keep", kDuration, "how long recordings are kept (0 = for ever)").dflt(DefaultMediaKeep.String()),
	),
	sec("api", "the HTTP API, /metrics, /healthz and the wallboard",
		patternKey("listen", hostPortPattern, "host:port; an address other than loopback needs allow_remote and a token").dflt(DefaultAPIListen),
		leaf("allow_remote", kBool, "allow a listen address reachable from other hosts").dflt(false),
		leaf("token", kSecret, "bearer token clients send (none: no authentication, loopback only)"),
	),
	sec("log", "logging",
		enumKey("level", "log level", "debug", "info", "warn", "error").dflt(DefaultLogLevel.String()),
		enumKey("format", "log line format", "console", "json").dflt(DefaultLogFormat),
	),
	mapKey("trunks", plainName.String(), "trunks turn an E.164 number into a switch endpoint for callbacks",
		sec("", "a trunk",
			leaf("dial", kText, `dial template with {e164} (number with +) or {digits} (without), e.g. "PJSIP/{e164}@customer"`).req(),
		)),
	mapKey("agents", plainName.String(), "agents by person: name → this node's switch endpoint for that agent; queues list agents by these names, and nodes serving different switches on one database know an agent by the same name while each dials its own endpoint",
		patternKey("", endpointRE.String(), "this node's switch endpoint for the agent (TECH/resource), such as PJSIP/alice or sofia/gateway/pbx1/bob")),
	mapKey("queues", plainName.String(), "the queues by name",
		sec("", "a queue",
			listKey("agents", "the queue's agents, rung in the order of strategy: names from agents or switch endpoints (TECH/resource)",
				patternKey("", agentItemPattern, "an agent's name from agents, such as alice, or a switch endpoint such as PJSIP/agent1 or user/1001")),
			enumKey("strategy", "order in which agents are offered calls",
				string(queue.Ordered), string(queue.RoundRobin), string(queue.LongestIdle)).dflt(string(queue.Ordered)),
			leaf("in_queue_flow", kName, "flow run while the caller waits (none: music only)"),
			leaf("max_wait", kDuration, "then the queue notation takes its timeout exit (0: no limit)"),
			leaf("max_entries", kCount, "then the queue is full (0: no limit)"),
			patternKey("music_class", mohRE.String(), "music on hold class"),
			leaf("agent_timeout", kPositive, "how long an agent rings"),
			leaf("agent_retry", kDuration, "how long an agent who did not answer is skipped"),
			leaf("wrap_up", kDuration, "pause after each conversation"),
			leaf("handle_time", kPositive, "seed of the estimated wait until calls are measured"),
			sec("callback", "callbacks: a caller can leave the line and be called back, keeping their place",
				patternKey("ani", aniRE.String(), `caller ID the customer sees, e.g. "+420222333444"`).req(),
				leaf("trunk", kText, "entry of trunks used to dial customers").req(),
				enumKey("mode", "who is called first", string(queue.AgentFirst), string(queue.CustomerFirst)).dflt(string(queue.AgentFirst)),
				leaf("max_attempts", kCount, "customer attempts before the callback fails").atLeast(1),
				leaf("retry_interval", kPositive, "time between attempts"),
				leaf("customer_timeout", kPositive, "how long the customer rings"),
				listKey("retry_on", "outcomes that are retried", enumKey("", "an outcome", "busy", "no_answer", "failed")),
				leaf("dedupe", kBool, "refuse a second open callback for the same number"),
				enumKey("on_call_in", "what happens when the same number calls again",
					string(queue.CallInKeep), string(queue.CallInCancel), string(queue.CallInMerge)),
				listKey("whisper", "prompts played to the agent before the caller's message (sound:NAME, recording:NAME, digits:123, …)",
					leaf("", kText, "a prompt URI")),
				sec("window", "when callbacks may be dialled (none: any time)",
					leaf("timezone", kText, "IANA time zone, e.g. Europe/Prague").req(),
					listKey("hours", "opening spans",
						sec("", "days and a span of time within each",
							listKey("days", "days: mon … sun or ranges such as mon-fri", patternKey("", dayPattern, "a day or a range of days")).req(),
							patternKey("from", clockPattern, "start, HH:MM").req(),
							patternKey("to", clockPattern, "end, HH:MM after from (24:00 for midnight)").req(),
						)).req().full(),
				),
				sec("number_policy", "which numbers may be called back; checked when registered and before each dial",
					patternKey("default_region", regionPattern, "region that reads national numbers, e.g. CZ"),
					listKey("allowed_regions", "regions allowed (none: any)", patternKey("", regionPattern, "a region code")),
					listKey("allowed_types", "number types allowed (none: any not denied)", enumKey("", "a number type", phone.TypeNames()...)),
					listKey("denied_types", "number types refused", enumKey("", "a number type", phone.TypeNames()...)),
					listKey("denied_prefixes", "prefixes never dialled, '+' and digits", patternKey("", prefixPattern, "a prefix")),
				),
			),
		)),
	sec("faults", "crash points for tests (binaries built with -tags faultinject only)",
		patternKey("kill_after", faultPointPattern, "<source>.<kind> of the trace event after which the process kills itself"),
		leaf("count", kCount, "which occurrence kills").dflt(1),
	).only(),
	leaf("shutdown_timeout", kPositive, "bound of the drain after SIGTERM or SIGINT").dflt(DefaultShutdownTimeout.String()),
	sec("node", "this node among several sharing a PostgreSQL store (docs/nodes.md); leave out for one node",
		leaf("id", kName, "this node's name, unique among the nodes of the database").req(),
		leaf("lease_ttl", kPositive, "how long the switch lease lasts without renewal (at least 3s); renewed every third of it").dflt(DefaultLeaseTTL.String()),
	),
)

// faultPointPattern is a crash point's form (faults.kill_after).
const faultPointPattern = `^(flow|switch|queue|callback)\.[a-z0-9_-]{1,64}$`

// at finds the key at path below k: names of keys, "*" for a map's values
// or a list's items. A path the table lacks is a bug.
func (k *key) at(path ...string) *key {
	cur := k
	for _, p := range path {
		var next *key
		switch {
		case p == "*" && cur.kind == kMap:
			next = cur.values
		case p == "*" && cur.kind == kList:
			next = cur.items
		default:
			for _, c := range cur.keys {
				if c.name == p {
					next = c
				}
			}
		}
		if next == nil {
			panic(fmt.Sprintf("config: no key %q in the key table below %q", p, cur.name))
		}
		cur = next
	}
	return cur
}

// ck is configKeys.at.
func ck(path ...string) *key { return configKeys.at(path...) }

// fieldNames lists the names a section's mapping may hold (a secret is
// two: key and key_file), sorted.
func (k *key) fieldNames() []string {
	var names []string
	for _, c := range k.keys {
		names = append(names, c.name)
		if c.kind == kSecret {
			names = append(names, c.name+"_file")
		}
	}
	slices.Sort(names)
	return names
}

// checkHandlers reports a decoder whose handlers differ from the table.
func (d *decoder) checkHandlers(k *key, fs map[string]func(ast.Node)) {
	have := make([]string, 0, len(fs))
	for name := range fs {
		have = append(have, name)
	}
	slices.Sort(have)
	if want := k.fieldNames(); !slices.Equal(have, want) {
		d.errs = append(d.errs, &Error{File: d.file, Line: 1, Col: 1, Msg: fmt.Sprintf(
			"internal error: the decoder of %s reads [%s] but its key table lists [%s]",
			k.name, strings.Join(have, " "), strings.Join(want, " "))})
	}
}

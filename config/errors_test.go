package config

import (
	"errors"
	"strings"
	"testing"
)

const sim = "switch: {type: sim}\n"

// queueYAML is a valid queue with a callback; cases append lines to it.
const queueYAML = sim + `trunks: {t: {dial: "PJSIP/{e164}@t"}}
queues:
  q:
    agents: [PJSIP/a]
    callback:
      ani: "+420222333444"
      trunk: t
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "line:col: substring" of the one error expected
	}{
		{"syntax error", "switch: {type: sim\nlog: x\n", "2:"},
		{"duplicate key", sim + "log: {level: info}\nlog: {level: debug}\n", "3:1: mapping key \"log\" already defined"},
		{"tab indentation", sim + "log:\n\tlevel: info\n", "3:"},
		{"empty file", "", "1:1: empty config"},
		{"comment only", "# nothing\n", "1:1: empty config"},
		{"two documents", sim + "---\n" + sim, "2:1: want one YAML document"},
		{"unknown top key", sim + "queus: {}\n", `2:1: unknown key "queus" in config`},
		{"missing switch", "log: {level: info}\n", "1:1: switch: section is required"},
		{"missing switch type", "switch: {}\n", "1:9: switch.type is required"},
		{"unknown switch", "switch: {type: asterix}\n", `1:16: switch.type: unknown switch "asterix"`},
		{"asterisk section missing", "switch:\n  type: asterisk\n", "2:9: switch: type asterisk needs an asterisk section"},
		{"freeswitch section missing", "switch:\n  type: freeswitch\n", "2:9: switch: type freeswitch needs a freeswitch section"},
		{"asterisk url missing", "switch:\n  type: asterisk\n  asterisk: {username: u, password: p}\n", "3:14: switch.asterisk.url is required"},
		{"asterisk url scheme", "switch:\n  type: asterisk\n  asterisk: {url: \"ws://h/ari\", username: u, password: p}\n", "3:19: switch.asterisk.url: \"ws://h/ari\": want an http"},
		{"asterisk url does not parse", "switch:\n  type: asterisk\n  asterisk: {url: \"http://[::1/ari\", username: u, password: p}\n", "3:19: switch.asterisk.url: \"http://[::1/ari\" does not parse"},
		{"asterisk url with credentials", "switch:\n  type: asterisk\n  asterisk: {url: \"http://u:p@h/ari\", username: u, password: p}\n", "3:19: switch.asterisk.url: \"http://u:p@h/ari\": put credentials"},
		{"asterisk url bad port", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h:99999/ari\", username: u, password: p}\n", "3:19: switch.asterisk.url: \"http://h:99999/ari\": port"},
		{"fastagi on all interfaces", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, fastagi_listen: \":4573\"}\n", "3:77: switch.asterisk.fastagi_listen: :4573 is reachable from other hosts"},
		{"fastagi listen bad port", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, fastagi_listen: \"127.0.0.1:x\"}\n", "3:77: switch.asterisk.fastagi_listen: port"},
		{"asterisk username missing", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", password: p}\n", "3:14: switch.asterisk.username is required"},
		{"asterisk password missing", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u}\n", "3:14: switch.asterisk: password or password_file is required"},
		{"password and password_file", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, password_file: f}\n", "3:76: switch.asterisk: give password or password_file, not both"},
		{"asterisk app not plain", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, app: \"a b\"}\n", "3:66: switch.asterisk.app: \"a b\" is not a plain name"},
		{"asterisk recordings_dir relative", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, recordings_dir: spool/rec}\n", `3:77: switch.asterisk.recordings_dir: "spool/rec" is not an absolute path`},
		{"typo in asterisk key", "switch:\n  type: asterisk\n  asterisk: {url: \"http://h/ari\", username: u, password: p, pasword: p}\n", `3:61: unknown key "pasword" in switch.asterisk`},
		{"freeswitch inbound not host:port", "switch:\n  type: freeswitch\n  freeswitch: {inbound: localhost, password: p}\n", `3:25: switch.freeswitch.inbound: "localhost" is not host:port`},
		{"freeswitch outbound port", "switch:\n  type: freeswitch\n  freeswitch: {outbound_listen: \":0\", password: p}\n", `3:33: switch.freeswitch.outbound_listen: port "0" is not 1-65535`},
		{"flow name with extension", sim + "flows: {default: main.yaml}\n", `2:18: flows.default: flow "main.yaml" is not a plain name`},
		{"flow name with path", sim + "flows:\n  by_dialed: {\"200\": ../etc/x}\n", `3:22: flows.by_dialed.200: flow "../etc/x" is not a plain name`},
		{"dialled number with space", sim + "flows:\n  by_dialed: {\"2 0\": main}\n", `3:15: flows.by_dialed: "2 0" is not a dialled number`},
		{"dialled number without flow", sim + "flows:\n  by_dialed: {\"200\": }\n", `3:15: flows.by_dialed: 200 names no flow`},
		{"empty store path", sim + "store: {path: \"\"}\n", "2:15: store.path: empty path"},
		{"media keep not a duration", sim + "media: {keep: 30 days}\n", `2:15: media.keep: bad duration "30 days": want seconds such as 30`},
		{"media keep negative", sim + "media: {keep: -1h}\n", `2:15: media.keep: negative duration "-1h"`},
		{"api on all interfaces", sim + "api: {listen: \":8080\"}\n", "2:15: api.listen: :8080 is reachable from other hosts"},
		{"api remote without token", sim + "api: {listen: \"10.0.0.1:8080\", allow_remote: true}\n", "2:46: api: allow_remote needs a token"},
		{"api listen bad port", sim + "api: {listen: \"127.0.0.1:http\"}\n", `2:15: api.listen: port "http" is not 1-65535`},
		{"allow_remote not bool", sim + "api: {allow_remote: 1}\n", "2:21: api.allow_remote: want true or false"},
		{"log level", sim + "log: {level: verbose}\n", `2:14: log.level: unknown level "verbose"`},
		{"log level fatal", sim + "log: {level: fatal}\n", `2:14: log.level: unknown level "fatal"`},
		{"log format", sim + "log: {format: xml}\n", `2:15: log.format: unknown format "xml"`},
		{"section not a mapping", sim + "log: [info]\n", "2:6: log: want a mapping of keys, not a list"},
		{"trunk without placeholder", sim + "trunks: {t: {dial: \"PJSIP/x@t\"}}\n", `2:20: trunk t: dial "PJSIP/x@t" has no {e164}`},
		{"trunk unknown placeholder", sim + "trunks: {t: {dial: \"PJSIP/{num}@t\"}}\n", "2:20: trunk t: dial \"PJSIP/{num}@t\": unknown placeholder {num}"},
		{"trunk not an endpoint", sim + "trunks: {t: {dial: \"{e164}\"}}\n", "2:20: trunk t: dial \"{e164}\" does not give a switch endpoint"},
		{"trunk without dial", sim + "trunks: {t: {}}\n", "2:10: trunk t: dial is required"},
		{"trunk name not plain", sim + "trunks: {\"a/b\": {dial: \"x/{e164}\"}}\n", `2:10: trunks: trunk name "a/b" is not a plain name`},
		{"queue name not plain", sim + "queues: {\"sup port\": {}}\n", `2:10: queues: queue name "sup port" is not a plain name`},
		{"agent not an endpoint", sim + "queues:\n  q:\n    agents: [\"PJSIP/a b\"]\n", `4:14: queue q: agents: "PJSIP/a b" is not a switch endpoint`},
		{"agent name not defined", sim + "queues:\n  q:\n    agents: [agent1]\n", `4:14: queue q: agent "agent1" is not defined in agents`},
		{"agent listed twice", sim + "queues:\n  q:\n    agents: [PJSIP/a, PJSIP/a]\n", "4:13: queue q: agent PJSIP/a listed twice"},
		{"agents a mapping", sim + "queues:\n  q:\n    agents: {a: b}\n", "4:14: queue q: agents: want a list, not a mapping"},
		{"strategy a list", sim + "queues:\n  q:\n    strategy: [ordered]\n", "4:15: queue q: strategy: want a single value, not a list"},
		{"unknown strategy", sim + "queues:\n  q:\n    strategy: random\n", `4:15: queue q: unknown strategy "random"`},
		{"in-queue flow not plain", sim + "queues:\n  q:\n    in_queue_flow: wait.yaml\n", `4:20: queue q: in_queue_flow: flow "wait.yaml" is not a plain name`},
		{"max_wait in days", sim + "queues:\n  q:\n    max_wait: 2d\n", `4:15: queue q: max_wait: bad duration "2d"`},
		{"max_wait a list", sim + "queues:\n  q:\n    max_wait: [30]\n", `4:15: queue q: max_wait: want a duration`},
		{"max_entries negative", sim + "queues:\n  q:\n    max_entries: -1\n", `4:18: queue q: max_entries: want a whole number of 0 or more, not "-1"`},
		{"max_entries text", sim + "queues:\n  q:\n    max_entries: ten\n", `4:18: queue q: max_entries: want a whole number`},
		{"shutdown_timeout zero", sim + "shutdown_timeout: 0s\n", "2:19: shutdown_timeout: must be more than 0"},
		{"shutdown_timeout negative", sim + "shutdown_timeout: -5s\n", "2:19: shutdown_timeout: negative duration"},
		{"agent_timeout zero", sim + "queues:\n  q:\n    agent_timeout: 0s\n", "4:20: queue q: agent_timeout: must be more than 0"},
		{"music class with space", sim + "queues:\n  q:\n    music_class: \"my class\"\n", `4:18: queue q: music_class "my class"`},
		{"unknown queue key", sim + "queues:\n  q:\n    priority: 5\n", `4:5: unknown key "priority" in queue q`},
		{"callback without ani", sim + "trunks: {t: {dial: \"x/{e164}\"}}\nqueues:\n  q:\n    callback: {trunk: t}\n", "5:16: queue q: callback: ani is required"},
		{"callback without trunk", sim + "queues:\n  q:\n    callback: {ani: \"+420222333444\"}\n", "4:16: queue q: callback: trunk is required"},
		{"callback trunk undefined", queueYAML + "      max_attempts: 2\n  r:\n    callback: {ani: \"+420222333444\", trunk: nope}\n", `11:45: queue r: callback.trunk "nope" is not defined under trunks`},
		{"ani with letters", sim + "trunks: {t: {dial: \"x/{e164}\"}}\nqueues:\n  q:\n    callback: {ani: \"+420 CALL\", trunk: t}\n", `5:21: queue q: callback.ani: "+420 CALL" is not an E.164 number`},
		{"unknown mode", queueYAML + "      mode: both\n", `9:13: queue q: callback.mode: unknown mode "both"`},
		{"max_attempts zero", queueYAML + "      max_attempts: 0\n", "9:21: queue q: callback.max_attempts: must be at least 1"},
		{"retry_on unknown outcome", queueYAML + "      retry_on: [busy, maybe]\n", `9:24: queue q: callback.retry_on: unknown outcome "maybe"`},
		{"on_call_in unknown", queueYAML + "      on_call_in: ignore\n", `9:19: queue q: callback.on_call_in: unknown value "ignore"`},
		{"dedupe not bool", queueYAML + "      dedupe: 1\n", "9:15: queue q: callback.dedupe: want true or false"},
		{"whisper bad prompt", queueYAML + "      whisper: [\"sound:ok\", \"file:/etc/passwd\"]\n", `9:29: queue q: callback.whisper: prompt "file:/etc/passwd": unknown kind "file"`},
		{"unknown time zone", queueYAML + "      window: {timezone: Mars/Olympus, hours: [{days: [mon], from: \"08:00\", to: \"18:00\"}]}\n", `9:26: queue q: callback.window.timezone: unknown time zone "Mars/Olympus"`},
		{"local time zone", queueYAML + "      window: {timezone: Local, hours: [{days: [mon], from: \"08:00\", to: \"18:00\"}]}\n", `9:26: queue q: callback.window.timezone: unknown time zone "Local"`},
		{"window without time zone", queueYAML + "      window: {hours: [{days: [mon], from: \"08:00\", to: \"18:00\"}]}\n", "9:16: queue q: callback.window: timezone is required"},
		{"window without hours", queueYAML + "      window: {timezone: UTC}\n", "9:16: queue q: callback.window: hours are required"},
		{"window empty hours", queueYAML + "      window: {timezone: UTC, hours: []}\n", "9:38: queue q: callback.window: hours are empty"},
		{"unknown day", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon, funday], from: \"08:00\", to: \"18:00\"}]}\n", `9:52: queue q: callback.window.hours.days: unknown day "funday"`},
		{"bad day range", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon-xyz], from: \"08:00\", to: \"18:00\"}]}\n", `9:47: queue q: callback.window.hours.days: unknown day "mon-xyz"`},
		{"hour not HH:MM", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon], from: \"8am\", to: \"18:00\"}]}\n", `9:59: queue q: callback.window.hours.from: "8am" is not HH:MM`},
		{"hour 25", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon], from: \"08:00\", to: \"25:00\"}]}\n", `9:72: queue q: callback.window.hours.to: "25:00" is not a time of day`},
		{"hours backwards", queueYAML + "      window: {timezone: UTC, hours: [{days: [mon], from: \"18:00\", to: \"08:00\"}]}\n", "9:72: queue q: callback.window.hours: to must be after from"},
		{"hours without days", queueYAML + "      window: {timezone: UTC, hours: [{from: \"08:00\", to: \"18:00\"}]}\n", "9:40: queue q: callback.window.hours: days is required"},
		{"unknown default region", queueYAML + "      number_policy: {default_region: XX}\n", `9:39: queue q: callback.number_policy: number policy: unknown default region "XX"`},
		{"unknown allowed region", queueYAML + "      number_policy: {allowed_regions: [CZ, ZZ]}\n", `9:45: queue q: callback.number_policy.allowed_regions: number policy: unknown region "ZZ"`},
		{"unknown number type", queueYAML + "      number_policy: {denied_types: [cheap]}\n", `9:38: queue q: callback.number_policy.denied_types: unknown number type "cheap"`},
		{"denied prefix without plus", queueYAML + "      number_policy: {denied_prefixes: [\"882\"]}\n", `9:41: queue q: callback.number_policy.denied_prefixes: number policy: denied prefix "882"`},
		{"merge includes itself", sim + "queues:\n  q: &q\n    <<: *q\n", "4:"},
		{"alias to unknown anchor", sim + "queues:\n  q:\n    agents: *nope\n", "4:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oneError(t, "cfg.yaml", tt.yaml)
			if want := "cfg.yaml:" + tt.want; !strings.HasPrefix(got, want) {
				t.Fatalf("error\n  %v\nwant prefix\n  %s", got, want)
			}
		})
	}
}

// oneError parses a config that must fail with exactly one error, and
// returns that error's text.
func oneError(t *testing.T, file, yaml string) string {
	t.Helper()
	c, err := Parse(file, []byte(yaml))
	if err == nil {
		t.Fatalf("Parse accepted the config: %+v", c)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not an ErrorList: %v", err, err)
	}
	if len(list) != 1 {
		t.Fatalf("want 1 error, got %d:\n%v", len(list), err)
	}
	return list[0].Error()
}

func TestParseMergeBomb(t *testing.T) {
	// 8^5 expansions if unbounded: Parse must stop and say why.
	src := "a: &a {x: 1}\n"
	for _, n := range []string{"b", "c", "d", "e"} {
		prev := string(rune(n[0] - 1))
		src += n + ": &" + n + " {<<: [" + strings.Repeat("*"+prev+", ", 7) + "*" + prev + "]}\n"
	}
	src = sim + "queues:\n  q:\n    <<: [" + strings.Repeat("*e, ", 7) + "*e]\n" + src
	_, err := Parse("bomb.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "expand too often") {
		t.Fatalf("error = %v, want the merge limit", err)
	}
}

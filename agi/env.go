package agi

import (
	"bufio"
	"fmt"
	"strings"
)

// maxEnvLines bounds the environment block so a peer that never sends the
// blank line cannot grow memory without limit.
const maxEnvLines = 256

// Env is the AGI environment block Asterisk sends first: agi_request,
// agi_channel, agi_callerid, agi_arg_1 and so on, keyed without the "agi_"
// prefix. Values are untrusted caller-controlled text (callerid, calleridname).
type Env map[string]string

// Args returns agi_arg_1..agi_arg_N in order.
func (e Env) Args() []string {
	var args []string
	for i := 1; ; i++ {
		v, ok := e[fmt.Sprintf("arg_%d", i)]
		if !ok {
			return args
		}
		args = append(args, v)
	}
}

// ReadEnv reads "agi_key: value" lines up to the blank line that ends the block.
func ReadEnv(r *bufio.Reader) (Env, error) {
	env := Env{}
	for n := 0; ; n++ {
		if n > maxEnvLines {
			return nil, fmt.Errorf("agi: environment longer than %d lines", maxEnvLines)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("agi: read environment: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return env, nil
		}
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			key, val, ok = strings.Cut(line, ":")
		}
		if !ok || !strings.HasPrefix(key, "agi_") {
			return nil, fmt.Errorf("agi: bad environment line %q", line)
		}
		env[strings.TrimPrefix(key, "agi_")] = val
	}
}

// Package agi is a small FastAGI client-side protocol library: it parses the
// AGI environment block Asterisk sends when a channel runs
// AGI(agi://host:port/...), renders commands as values and parses their
// "200 result=" replies.
package agi

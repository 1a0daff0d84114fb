//go:build !linux

package main

import (
	"context"
	"errors"
)

const defaultClient = "raw"

func (l load) runLoop(context.Context, string, op, func()) (result, error) {
	return result{}, errors.New("the loop client runs on Linux only; use -client raw")
}

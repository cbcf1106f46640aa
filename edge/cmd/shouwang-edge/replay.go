package main

import (
	"os"

	"github.com/shouwang-care/shouwang/edge/replay"
)

func init() {
	subcommands["replay"] = func(args []string) error { return replay.Command(args, os.Stdout) }
}

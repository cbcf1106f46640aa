package main

import (
	"os"

	"github.com/shouwang-care/shouwang/edge/decode"
)

func init() {
	subcommands["decode"] = func(args []string) error { return decode.Run(args, os.Stdout) }
}

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shouwang-care/shouwang/edge/provision"
)

func init() {
	subcommands["claim"] = func(args []string) error {
		// Ctrl-C cancels the request and lets the claim remove its temporary files.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return provision.Command(ctx, args, os.Stdout)
	}
}

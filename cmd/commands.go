package cmd

import (
	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/cmdutil"
)

// commands lists the subcommands, in the order `bbkey --help` shows them.
func commands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{}
}

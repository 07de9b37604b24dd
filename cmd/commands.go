package cmd

import (
	"github.com/spf13/cobra"

	accesskeycmd "github.com/bbkey/bbkey/cmd/accesskey"
	auditcmd "github.com/bbkey/bbkey/cmd/audit"
	authcmd "github.com/bbkey/bbkey/cmd/auth"
	doctorcmd "github.com/bbkey/bbkey/cmd/doctor"
	listcmd "github.com/bbkey/bbkey/cmd/list"
	remotecmd "github.com/bbkey/bbkey/cmd/remote"
	removecmd "github.com/bbkey/bbkey/cmd/remove"
	rotatecmd "github.com/bbkey/bbkey/cmd/rotate"
	setupcmd "github.com/bbkey/bbkey/cmd/setup"
	"github.com/bbkey/bbkey/internal/cmdutil"
)

// commands lists the subcommands, in the order `bbkey --help` shows them.
func commands(f *cmdutil.Factory) []*cobra.Command {
	return []*cobra.Command{
		setupcmd.NewCmdSetup(f, nil),
		accesskeycmd.NewCmdAddAccessKey(f, nil),
		rotatecmd.NewCmdRotate(f, nil),
		remotecmd.NewCmdRemote(f, nil),
		listcmd.NewCmdList(f, nil),
		removecmd.NewCmdRemove(f, nil),
		doctorcmd.NewCmdDoctor(f, nil),
		auditcmd.NewCmdAudit(f, nil),
		authcmd.NewCmdAuth(f),
	}
}

package cmdutil

import "github.com/bbkey/bbkey/internal/settings"

// The settings, paths and credential sources are the settings package's (a leaf every
// layer may use); the command layer names them here too.
type (
	Settings           = settings.Settings
	Paths              = settings.Paths
	CredentialSource   = settings.CredentialSource
	ResolvedCredential = settings.ResolvedCredential
)

const (
	DefaultAPIURL        = settings.DefaultAPIURL
	DefaultOAuthTokenURL = settings.DefaultOAuthTokenURL
	DefaultSSHHost       = settings.DefaultSSHHost
	DefaultSSHEndpoint   = settings.DefaultSSHEndpoint
	AltSSHEndpoint       = settings.AltSSHEndpoint

	SourceTokenFile = settings.SourceTokenFile
	SourceEnv       = settings.SourceEnv
	SourceStore     = settings.SourceStore
	SourceFileStore = settings.SourceFileStore
)

var (
	ErrNoCredential = settings.ErrNoCredential
	SettingsFile    = settings.SettingsFile
	SplitEndpoint   = settings.SplitEndpoint
	SystemPaths     = settings.SystemPaths
)

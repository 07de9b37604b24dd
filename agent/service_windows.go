//go:build windows

package agent

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// QueryService asks Windows' service manager for the ssh-agent service's state. It needs
// no administrator rights.
func QueryService() (ServiceState, error) {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return ServiceState{}, fmt.Errorf("opening the service manager: %w", err)
	}
	defer windows.CloseServiceHandle(m)
	name, _ := windows.UTF16PtrFromString(ServiceName)
	h, err := windows.OpenService(m, name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return ServiceState{}, nil
	}
	if err != nil {
		return ServiceState{}, fmt.Errorf("opening the %s service: %w", ServiceName, err)
	}
	defer windows.CloseServiceHandle(h)
	var st windows.SERVICE_STATUS
	if err := windows.QueryServiceStatus(h, &st); err != nil {
		return ServiceState{}, fmt.Errorf("reading the %s service's status: %w", ServiceName, err)
	}
	var need uint32
	buf := make([]byte, 1024)
	for {
		err = windows.QueryServiceConfig(h, (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0])), uint32(len(buf)), &need)
		if err != windows.ERROR_INSUFFICIENT_BUFFER || need <= uint32(len(buf)) {
			break
		}
		buf = make([]byte, need)
	}
	if err != nil {
		return ServiceState{}, fmt.Errorf("reading the %s service's configuration: %w", ServiceName, err)
	}
	cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
	return ServiceState{Installed: true, Running: st.CurrentState == windows.SERVICE_RUNNING, Start: startType(cfg.StartType)}, nil
}

func startType(t uint32) string {
	switch t {
	case windows.SERVICE_AUTO_START, windows.SERVICE_BOOT_START, windows.SERVICE_SYSTEM_START:
		return "automatic"
	case windows.SERVICE_DISABLED:
		return "disabled"
	}
	return "manual"
}

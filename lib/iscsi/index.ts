export { DiskFiles, type DiskInfo } from './disks';
export { planTargets, type Busy, type ChapAccount, type ChapConfig, type DesiredTarget, type Plan, type PlanInput, type Step } from './plan';
export { IscsiService, isServedImage, type DaemonMode, type DiskTarget, type IscsiServiceOptions, type IscsiStatus, type Problem, type SessionEvent, type SyncReport } from './service';
export { isInitiatorName, parseAccounts, parseTargets, type TgtAccountBinding, type TgtLun, type TgtNexus, type TgtTarget } from './tgt-show';
export { TgtAdmin, TgtDaemon, type TgtDaemonOptions } from './tgtadm';
export { IscsiAction, ISCSI_ACTIONS, runIscsiAction } from './actions';

//! The REMOTE program's procedure numbers ([`Procedure`]): one table giving
//! each procedure its number, its [`Family`] and, for those refused on
//! read-only connections, the libvirt API name.

/// Who answers a procedure, and for the backend's ones, what kind of call it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Answered by the server itself (connection state, event registration,
    /// server-to-client messages, console streams, and the legacy list
    /// procedures through a CONNECT_LIST_ALL_DOMAINS request); they decode
    /// to no [`super::Request`].
    Server,
    /// The connection and the host: open, type, versions, hostname,
    /// capabilities, node facts, XML to native.
    Connect,
    /// Finding domains: list and lookups.
    Lookup,
    /// Changing a domain: define, create, stop, pause, undefine, autostart.
    Lifecycle,
    /// Reading one domain's facts.
    Info,
    /// The domain commands that change or tell one thing ([`super::DomainOp`]).
    DomainOps,
    /// Statistics and tuning of a domain (see [`super::stats`]).
    Stats,
    /// Storage pools and volumes (see [`super::storage`]).
    Storage,
}

/// `Some(api)` for a `mutating "api"` entry of the table, `None` otherwise.
macro_rules! mutating {
    () => {
        None
    };
    ($api:literal) => {
        Some($api)
    };
}

macro_rules! procedures {
    ($( $(#[$m:meta])* $variant:ident = $num:literal => $family:ident $(, mutating $api:literal)? ;)*) => {
        /// REMOTE program procedures known to this crate.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Procedure {
            $( $(#[$m])* $variant = $num, )*
        }

        impl Procedure {
            /// All known procedures.
            pub const ALL: &'static [Procedure] = &[$(Procedure::$variant),*];

            /// Look up a procedure number.
            pub fn from_number(n: i32) -> Option<Self> {
                match n {
                    $( $num => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The procedure number on the wire.
            pub fn number(self) -> i32 {
                self as i32
            }

            /// Our variant name (CamelCase form of libvirt's `REMOTE_PROC_*`).
            pub fn variant_name(self) -> &'static str {
                match self {
                    $( Self::$variant => stringify!($variant), )*
                }
            }

            /// Who answers this procedure.
            pub fn family(self) -> Family {
                match self {
                    $( Self::$variant => Family::$family, )*
                }
            }

            /// For procedures refused on read-only connections: the public
            /// libvirt API name used in the "read only access prevents" text.
            pub fn mutating_api(self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => mutating!($($api)?), )*
                }
            }
        }
    };
}

procedures! {
    /// `void -> void`; opens the connection.
    ConnectOpen = 1 => Connect;
    /// Close the connection.
    ConnectClose = 2 => Server;
    /// Driver name ("QEMU").
    ConnectGetType = 3 => Connect;
    /// Hypervisor version.
    ConnectGetVersion = 4 => Connect;
    /// Max vCPUs for a guest type.
    ConnectGetMaxVcpus = 5 => Connect;
    /// Host information.
    NodeGetInfo = 6 => Connect;
    /// Capabilities XML.
    ConnectGetCapabilities = 7 => Connect;
    /// Start a defined domain (void ret).
    DomainCreate = 9 => Lifecycle, mutating "virDomainCreate";
    /// Start a transient domain.
    DomainCreateXml = 10 => Lifecycle, mutating "virDomainCreateXML";
    /// Define a persistent domain.
    DomainDefineXml = 11 => Lifecycle, mutating "virDomainDefineXML";
    /// Hard stop.
    DomainDestroy = 12 => Lifecycle, mutating "virDomainDestroy";
    /// Domain XML.
    DomainGetXmlDesc = 14 => Info;
    /// Autostart flag.
    DomainGetAutostart = 15 => Info;
    /// Domain info (32-byte struct).
    DomainGetInfo = 16 => Info;
    /// Max memory.
    DomainGetMaxMemory = 17 => Info;
    /// Max vCPUs.
    DomainGetMaxVcpus = 18 => Info;
    /// OS type ("hvm").
    DomainGetOsType = 19 => Info;
    /// Legacy: names of inactive domains.
    ConnectListDefinedDomains = 21 => Server;
    /// Lookup by running id.
    DomainLookupById = 22 => Lookup;
    /// Lookup by name.
    DomainLookupByName = 23 => Lookup;
    /// Lookup by UUID.
    DomainLookupByUuid = 24 => Lookup;
    /// Legacy: count of inactive domains.
    ConnectNumOfDefinedDomains = 25 => Server;
    /// Reboot.
    DomainReboot = 27 => Lifecycle, mutating "virDomainReboot";
    /// Resume.
    DomainResume = 28 => Lifecycle, mutating "virDomainResume";
    /// Set autostart.
    DomainSetAutostart = 29 => Lifecycle, mutating "virDomainSetAutostart";
    /// Graceful shutdown.
    DomainShutdown = 33 => Lifecycle, mutating "virDomainShutdown";
    /// Pause.
    DomainSuspend = 34 => Lifecycle, mutating "virDomainSuspend";
    /// Undefine.
    DomainUndefine = 35 => Lifecycle, mutating "virDomainUndefine";
    /// Legacy: ids of running domains.
    ConnectListDomains = 37 => Server;
    /// Legacy: count of running domains.
    ConnectNumOfDomains = 51 => Server;
    /// Host name.
    ConnectGetHostname = 59 => Connect;
    /// Feature probe.
    ConnectSupportsFeature = 60 => Server;
    /// Auth types offered.
    AuthList = 66 => Server;
    /// Free host memory, bytes.
    NodeGetFreeMemory = 102 => Connect;
    /// Legacy lifecycle event message (server to client).
    DomainEventLifecycle = 107 => Server;
    /// Canonical URI.
    ConnectGetUri = 110 => Connect;
    /// Host security model.
    NodeGetSecurityModel = 122 => Connect;
    /// Domain XML to native config.
    ConnectDomainXmlToNative = 136 => Connect, mutating "virConnectDomainXMLToNative";
    /// Whether the connection is secure.
    ConnectIsSecure = 149 => Server;
    /// Running?
    DomainIsActive = 150 => Info;
    /// Persistent?
    DomainIsPersistent = 151 => Info;
    /// Library version.
    ConnectGetLibVersion = 157 => Connect;
    /// Job progress (old API).
    DomainGetJobInfo = 163 => Info;
    /// Legacy event registration.
    ConnectDomainEventRegisterAny = 167 => Server;
    /// Legacy event deregistration.
    ConnectDomainEventDeregisterAny = 168 => Server;
    /// Managed save image present?
    DomainHasManagedSaveImage = 183 => Info;
    /// Snapshot count.
    DomainSnapshotNum = 187 => Info;
    /// Start a defined domain, returns it.
    DomainCreateWithFlags = 196 => Lifecycle, mutating "virDomainCreateWithFlags";
    /// vCPU count.
    DomainGetVcpusFlags = 200 => Info;
    /// Open the domain's console as a stream.
    DomainOpenConsole = 201 => Server, mutating "virDomainOpenConsole";
    /// Config updated since start?
    DomainIsUpdated = 202 => Info;
    /// State and reason.
    DomainGetState = 212 => Info;
    /// Monitor/control channel state.
    DomainGetControlInfo = 229 => Info;
    /// Undefine with flags.
    DomainUndefineFlags = 231 => Lifecycle, mutating "virDomainUndefineFlags";
    /// Destroy with flags.
    DomainDestroyFlags = 234 => Lifecycle, mutating "virDomainDestroyFlags";
    /// Hard reset.
    DomainReset = 245 => Lifecycle, mutating "virDomainReset";
    /// Shutdown with flags.
    DomainShutdownFlags = 258 => Lifecycle, mutating "virDomainShutdownFlags";
    /// List domains with filters.
    ConnectListAllDomains = 273 => Lookup;
    /// Event registration with callback ids.
    ConnectDomainEventCallbackRegisterAny = 316 => Server;
    /// Event deregistration with callback ids.
    ConnectDomainEventCallbackDeregisterAny = 317 => Server;
    /// Lifecycle event message with callback id (server to client).
    DomainEventCallbackLifecycle = 318 => Server;
    /// Domain capabilities XML.
    ConnectGetDomainCapabilities = 342 => Connect;
    /// Define with flags.
    DomainDefineXmlFlags = 350 => Lifecycle, mutating "virDomainDefineXMLFlags";
    /// Register the close callback.
    ConnectRegisterCloseCallback = 360 => Server;
    /// Unregister the close callback.
    ConnectUnregisterCloseCallback = 361 => Server;
    /// Domain messages (tainting, deprecations).
    DomainGetMessages = 426 => Info;
    // Host facts (hostfacts.rs).
    /// Free memory per NUMA cell.
    NodeGetCellsFreeMemory = 101 => Connect;
    /// Compare a CPU with the host's.
    ConnectCompareCpu = 158 => Connect;
    /// Baseline of CPUs.
    ConnectBaselineCpu = 162 => Connect;
    /// Host SMBIOS as `<sysinfo>` XML.
    ConnectGetSysinfo = 203 => Connect;
    /// Host CPU time counters.
    NodeGetCpuStats = 227 => Connect;
    /// Host memory counters.
    NodeGetMemoryStats = 228 => Connect;
    /// Online host CPUs as a bitmap.
    NodeGetCpuMap = 293 => Connect;
    /// CPU model names for an arch.
    ConnectGetCpuModelNames = 312 => Connect;
    /// Compare a CPU with what the hypervisor can provide.
    ConnectCompareHypervisorCpu = 393 => Connect;
    /// Baseline of CPUs the hypervisor can provide.
    ConnectBaselineHypervisorCpu = 394 => Connect;
    // The domain commands of `super::domain_ops` and the screenshot stream.
    /// Set the running domain's memory (old form).
    DomainSetMemory = 31 => DomainOps, mutating "virDomainSetMemory";
    /// Set the running domain's vCPU count (old form).
    DomainSetVcpus = 32 => DomainOps, mutating "virDomainSetVcpus";
    /// Set the vCPU count, live or in the definition.
    DomainSetVcpusFlags = 199 => DomainOps, mutating "virDomainSetVcpusFlags";
    /// Set the memory (balloon), live or in the definition.
    DomainSetMemoryFlags = 204 => DomainOps, mutating "virDomainSetMemoryFlags";
    /// A screenshot as a stream (answered with the stream, like the console).
    DomainScreenshot = 211 => Server, mutating "virDomainScreenshot";
    /// Press keys.
    DomainSendKey = 226 => DomainOps, mutating "virDomainSendKey";
    /// Set title, description or a metadata element.
    DomainSetMetadata = 264 => DomainOps, mutating "virDomainSetMetadata";
    /// Read title, description or a metadata element.
    DomainGetMetadata = 265 => DomainOps;
    /// The guest's hostname (agent).
    DomainGetHostname = 277 => DomainOps, mutating "virDomainGetHostname";
    /// The guest's time (agent).
    DomainGetTime = 337 => DomainOps, mutating "virDomainGetTime";
    /// Set the guest's time (agent).
    DomainSetTime = 338 => DomainOps, mutating "virDomainSetTime";
    /// The guest's filesystems (agent).
    DomainGetFsinfo = 349 => DomainOps, mutating "virDomainGetFSInfo";
    /// The guest's interface addresses.
    DomainInterfaceAddresses = 353 => DomainOps;
    /// Rename an inactive domain.
    DomainRename = 358 => DomainOps, mutating "virDomainRename";
    /// Guest information (agent).
    DomainGetGuestInfo = 418 => DomainOps;
    /// Metadata change event message with callback id (server to client).
    DomainEventCallbackMetadataChange = 379 => Server;
    // Statistics and tuning (family Stats, decoded in stats.rs).
    /// vCPU states, times and affinities.
    DomainGetVcpus = 20 => Stats;
    /// Pin a vCPU (live).
    DomainPinVcpu = 26 => Stats, mutating "virDomainPinVcpu";
    /// Scheduler type and parameter count.
    DomainGetSchedulerType = 56 => Stats;
    /// Scheduler parameters (old).
    DomainGetSchedulerParameters = 57 => Stats;
    /// Set scheduler parameters (old).
    DomainSetSchedulerParameters = 58 => Stats, mutating "virDomainSetSchedulerParameters";
    /// Block statistics (old fixed struct).
    DomainBlockStats = 64 => Stats;
    /// Interface statistics.
    DomainInterfaceStats = 65 => Stats;
    /// Memory (balloon) statistics.
    DomainMemoryStats = 159 => Stats;
    /// Capacity, allocation and physical size of a disk.
    DomainGetBlockInfo = 194 => Stats;
    /// Set memory tunables.
    DomainSetMemoryParameters = 197 => Stats, mutating "virDomainSetMemoryParameters";
    /// Memory tunables.
    DomainGetMemoryParameters = 198 => Stats;
    /// Set block I/O tunables.
    DomainSetBlkioParameters = 205 => Stats, mutating "virDomainSetBlkioParameters";
    /// Block I/O tunables.
    DomainGetBlkioParameters = 206 => Stats;
    /// Set scheduler parameters.
    DomainSetSchedulerParametersFlags = 219 => Stats, mutating "virDomainSetSchedulerParametersFlags";
    /// Scheduler parameters.
    DomainGetSchedulerParametersFlags = 223 => Stats;
    /// Pin a vCPU.
    DomainPinVcpuFlags = 225 => Stats, mutating "virDomainPinVcpuFlags";
    /// vCPU affinities.
    DomainGetVcpuPinInfo = 230 => Stats;
    /// Block statistics as typed parameters.
    DomainBlockStatsFlags = 243 => Stats;
    /// Set NUMA tunables.
    DomainSetNumaParameters = 254 => Stats, mutating "virDomainSetNumaParameters";
    /// NUMA tunables.
    DomainGetNumaParameters = 255 => Stats;
    /// CPU accounting, total or per host CPU.
    DomainGetCpuStats = 262 => Stats;
    /// Disk I/O errors.
    DomainGetDiskErrors = 263 => Stats;
    /// Snapshots.
    DomainListAllSnapshots = 274 => Stats;
    /// Pin the emulator threads.
    DomainPinEmulator = 279 => Stats, mutating "virDomainPinEmulator";
    /// Emulator thread affinity.
    DomainGetEmulatorPinInfo = 280 => Stats;
    /// Statistics of many domains.
    ConnectGetAllDomainStats = 344 => Stats;
    /// IOThreads and their affinities.
    DomainGetIothreadInfo = 351 => Stats;
    /// XML of the managed save image.
    DomainManagedSaveGetXmlDesc = 388 => Stats;
    /// Balloon statistics collection period.
    DomainSetMemoryStatsPeriod = 308 => Stats, mutating "virDomainSetMemoryStatsPeriod";
    // Storage pools and volumes (family Storage, decoded in storage.rs).
    /// Count of active pools.
    ConnectNumOfStoragePools = 71 => Storage;
    /// Names of active pools.
    ConnectListStoragePools = 72 => Storage;
    /// Count of inactive pools.
    ConnectNumOfDefinedStoragePools = 73 => Storage;
    /// Names of inactive pools.
    ConnectListDefinedStoragePools = 74 => Storage;
    /// Define and start a transient pool.
    StoragePoolCreateXml = 76 => Storage, mutating "virStoragePoolCreateXML";
    /// Define a persistent pool.
    StoragePoolDefineXml = 77 => Storage, mutating "virStoragePoolDefineXML";
    /// Start a pool.
    StoragePoolCreate = 78 => Storage, mutating "virStoragePoolCreate";
    /// Build a pool (a `dir` pool: make its directory).
    StoragePoolBuild = 79 => Storage, mutating "virStoragePoolBuild";
    /// Stop a pool.
    StoragePoolDestroy = 80 => Storage, mutating "virStoragePoolDestroy";
    /// Delete a pool's storage (a `dir` pool: remove its empty directory).
    StoragePoolDelete = 81 => Storage, mutating "virStoragePoolDelete";
    /// Forget a pool.
    StoragePoolUndefine = 82 => Storage, mutating "virStoragePoolUndefine";
    /// Rescan a pool.
    StoragePoolRefresh = 83 => Storage, mutating "virStoragePoolRefresh";
    /// Pool by name.
    StoragePoolLookupByName = 84 => Storage;
    /// Pool by UUID.
    StoragePoolLookupByUuid = 85 => Storage;
    /// The pool of a volume.
    StoragePoolLookupByVolume = 86 => Storage;
    /// Pool state and sizes.
    StoragePoolGetInfo = 87 => Storage;
    /// Pool XML.
    StoragePoolGetXmlDesc = 88 => Storage;
    /// Pool autostart flag.
    StoragePoolGetAutostart = 89 => Storage;
    /// Set the pool autostart flag.
    StoragePoolSetAutostart = 90 => Storage, mutating "virStoragePoolSetAutostart";
    /// Count of a pool's volumes.
    StoragePoolNumOfVolumes = 91 => Storage;
    /// Names of a pool's volumes.
    StoragePoolListVolumes = 92 => Storage;
    /// Create a volume in a pool.
    StorageVolCreateXml = 93 => Storage, mutating "virStorageVolCreateXML";
    /// Delete a volume.
    StorageVolDelete = 94 => Storage, mutating "virStorageVolDelete";
    /// Volume by pool and name.
    StorageVolLookupByName = 95 => Storage;
    /// Volume by key.
    StorageVolLookupByKey = 96 => Storage;
    /// Volume by path.
    StorageVolLookupByPath = 97 => Storage;
    /// Volume type and sizes.
    StorageVolGetInfo = 98 => Storage;
    /// Volume XML.
    StorageVolGetXmlDesc = 99 => Storage;
    /// Volume path.
    StorageVolGetPath = 100 => Storage;
    /// Create a volume as a copy of another.
    StorageVolCreateXmlFrom = 125 => Storage, mutating "virStorageVolCreateXMLFrom";
    /// Pool running?
    StoragePoolIsActive = 154 => Storage;
    /// Pool persistent?
    StoragePoolIsPersistent = 155 => Storage;
    /// Change a volume's capacity.
    StorageVolResize = 260 => Storage, mutating "virStorageVolResize";
    /// List pools with filters.
    ConnectListAllStoragePools = 281 => Storage;
    /// List a pool's volumes.
    StoragePoolListAllVolumes = 282 => Storage;
    /// Volume type and sizes, with flags.
    StorageVolGetInfoFlags = 378 => Storage;
    /// Pool by its target path.
    StoragePoolLookupByTargetPath = 391 => Storage;
    /// Which pool types and formats the driver supports.
    ConnectGetStoragePoolCapabilities = 403 => Storage;
}
